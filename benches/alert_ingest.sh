#!/usr/bin/env bash
# Ingestion with and without an alert rule (issue 17): `verbatim ingest` of 50,000 generated
# verbatims into a new data directory, three runs each, alternating. The rule
# (`{"nps_group": "detractor", "channel": "email"}` with a 48 h follow-up) is created through the
# API of a server started on a template directory, which each "one rule" run copies.
#
# Run: bash benches/alert_ingest.sh   (builds the release binary; needs python3 and curl)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin="$PWD/target/release/verbatim"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

python3 - "$work/input.jsonl" <<'PY'
import json, random, sys
r = random.Random(3)
texts = ["Livraison en retard, colis abîmé", "Très bon service, merci", "The app crashes every time",
         "Great product but delivery was a disaster", "Trop cher pour ce que c'est", "Still waiting for my refund"]
with open(sys.argv[1], "w") as f:
    for i in range(50000):
        f.write(json.dumps({"id": f"v{i}", "text": r.choice(texts), "channel": r.choice(["email", "chat", "survey"]),
                            "nps": r.randrange(11), "created_at": "2026-11-20T10:00:00Z"}, ensure_ascii=False) + "\n")
PY

"$bin" --data "$work/template" serve --addr 127.0.0.1:0 > "$work/serve.out" 2> "$work/serve.log" &
server=$!
for _ in $(seq 50); do grep -q "listening on" "$work/serve.out" 2>/dev/null && break; sleep 0.2; done
base="$(sed -n 's/^verbatim listening on //p' "$work/serve.out")"
curl -sf "$base/v1/alerts/rules" -H 'content-type: application/json' \
  -d '{"name": "detractors on email", "filter": {"nps_group": "detractor", "channel": "email"},
       "follow_up": {"due_hours": 48, "owner": "cx"}}' > /dev/null
kill "$server"; wait "$server" 2>/dev/null || true

echo "| rules | run | seconds | alerts fired |"
echo "|---|---|---|---|"
for run in 1 2 3; do
  for rules in none one; do
    rm -rf "$work/run"
    [ "$rules" = one ] && cp -r "$work/template" "$work/run"
    start=$(date +%s.%N)
    "$bin" --data "$work/run" ingest "$work/input.jsonl" --batch-size 1000 > /dev/null
    seconds=$(python3 -c "import time; print(f'{time.time() - $start:.2f}')")
    fired=$(python3 -c "import sqlite3; print(sqlite3.connect('$work/run/verbatim.sqlite3').execute('select count(*) from alerts').fetchone()[0])")
    echo "| $rules | $run | $seconds | $fired |"
  done
done
