"""Memory and CPU of `POST /v1/analyze` in a real `verbatim serve` (Linux: reads /proc).

  python3 benches/analyze_memory.py BINARY fast "Bon. "
      500 documents of 33,000 characters, the unit repeated, model fast: response size, time to
      the first byte and in all, the server's peak (VmHWM) and resident memory afterwards.
  python3 benches/analyze_memory.py BINARY accurate MODELS_DIR
      50 seeded texts of 2-8 review sentences, model accurate, four requests (the first loads
      the encoder): seconds each, and page faults and CPU seconds of the three warm ones.

BINARY is a release build (`cargo build --release`); run two binaries alternately to compare.
"""
import json
import random
import subprocess
import sys
import tempfile
import time
import urllib.request


def start(binary, *extra):
    data = tempfile.mkdtemp()
    server = subprocess.Popen([binary, "--data", data + "/d", *extra, "serve", "--addr", "127.0.0.1:0"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    return server, server.stdout.readline().decode().strip().split("listening on ")[1]


def post(base, body):
    request = urllib.request.Request(base + "/v1/analyze", data=json.dumps(body).encode(),
                                     headers={"content-type": "application/json"})
    return urllib.request.urlopen(request, timeout=600)


def status_kb(server, key):
    for line in open(f"/proc/{server.pid}/status"):
        if line.startswith(key):
            return int(line.split()[1])


def faults_and_cpu(server):
    fields = open(f"/proc/{server.pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[7]), (int(fields[11]) + int(fields[12])) / 100


def fast(binary, unit):
    server, base = start(binary)
    text = (unit * (33000 // len(unit) + 1))[:33000].strip()
    body = {"model": "fast", "documents": [{"id": str(i), "text": text} for i in range(500)]}
    started = time.time()
    response = post(base, body)
    first, size = None, 0
    while chunk := response.read(1 << 20):
        first = first or time.time() - started
        size += len(chunk)
    print(f"{unit!r}: status {response.status}, {size} bytes, first byte {first:.2f} s, "
          f"all {time.time() - started:.2f} s, VmHWM {status_kb(server, 'VmHWM')} kB, "
          f"VmRSS after {status_kb(server, 'VmRSS')} kB")
    server.kill()


def accurate(binary, models):
    random.seed(1)
    parts = ["Livraison rapide et produit conforme.", "Service client injoignable, très déçu.",
             "The app crashes every time I open it.", "Great support, they fixed my issue quickly.",
             "Le prix est correct mais l'emballage était abîmé.", "I waited three weeks for a refund that never came."]
    documents = [{"id": str(i), "text": " ".join(random.choice(parts) for _ in range(random.randint(2, 8)))}
                 for i in range(50)]
    server, base = start(binary, "--models", models)
    seconds = []
    for i in range(4):
        if i == 1:
            before = faults_and_cpu(server)
        started = time.time()
        response = post(base, {"model": "accurate", "documents": documents})
        assert response.status == 200 and len(json.loads(response.read())["documents"]) == 50
        seconds.append(time.time() - started)
    after = faults_and_cpu(server)
    print(f"seconds per request: {' '.join(f'{s:.2f}' for s in seconds)}; warm three: "
          f"{after[0] - before[0]} minor faults, {after[1] - before[1]:.2f} CPU s; "
          f"VmHWM {status_kb(server, 'VmHWM') // 1024} MB")
    server.kill()


if __name__ == "__main__":
    binary, mode, arg = sys.argv[1:4]
    fast(binary, arg) if mode == "fast" else accurate(binary, arg)
