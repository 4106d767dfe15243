#!/usr/bin/env bash
# The int8 encoder against f32, on real customer texts, in one run: encoder speed (texts/s)
# and embedding agreement (cosine) on 1,000 English MARC and 1,000 French Trustpilot reviews,
# then the accurate tier's labels on those reviews plus 1,000 Trustpilot review titles, with
# `VERBATIM_ENCODER_INT8=off` for f32 (int8 is the default). Needs a CPU with AVX-512 VNNI for
# the int8 side.
#
#   benches/int8_agreement.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${VERBATIM_SHARED_DATA:-../shared/data}
for file in en_marc_reviews_train.csv fr_trustpilot_reviews.csv fr_trustpilot_titles.csv; do
  [ -s "$DATA/sentiment/$file" ] || { echo "error: $DATA/sentiment/$file is missing" >&2; exit 1; }
done
cargo build --release --locked --bin verbatim --bench encoder >/dev/null 2>&1
BIN=target/release/verbatim
BENCH=$(ls -t target/release/deps/encoder-* | grep -v '\.d$' | head -1)
MODELS=target/encoder-bench/models
"$BIN" --models "$MODELS" models install multilingual-e5-small >/dev/null
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

python3 - "$DATA/sentiment" "$WORK" <<'PY'
import csv, json, sys
data, work = sys.argv[1], sys.argv[2]
with open(f"{data}/en_marc_reviews_train.csv", encoding="utf-8") as f:
    reviews = [r["review_body"] for r in csv.DictReader(f)][:1000]
with open(f"{data}/fr_trustpilot_reviews.csv", encoding="utf-8") as f:
    reviews += [r["content_review"] for r in csv.DictReader(f, delimiter=";")][:1000]
with open(f"{data}/fr_trustpilot_titles.csv", encoding="utf-8") as f:
    titles = [r["title"] for r in csv.DictReader(f)][:1000]
flat = lambda t: t.replace("\n", " ").replace("\r", " ")
open(f"{work}/reviews.txt", "w", encoding="utf-8").write("\n".join(flat(t) for t in reviews) + "\n")
with open(f"{work}/docs.jsonl", "w", encoding="utf-8") as f:
    for i, text in enumerate(reviews + titles):
        f.write(json.dumps({"id": str(i), "text": text}, ensure_ascii=False) + "\n")
PY

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(date -u '+%Y-%m-%d %H:%M UTC')"
VERBATIM_ENCODER_INT8=off "$BENCH" --model "$MODELS/multilingual-e5-small" --texts "$WORK/reviews.txt" --out "$WORK/f32.emb"
VERBATIM_ENCODER_INT8=on "$BENCH" --model "$MODELS/multilingual-e5-small" --texts "$WORK/reviews.txt" --out "$WORK/int8.emb"
for precision in f32 int8; do
  setting=$([ "$precision" = f32 ] && echo off || echo on)
  start=$(date +%s.%N)
  VERBATIM_ENCODER_INT8=$setting "$BIN" --models "$MODELS" analyze --model accurate --input "$WORK/docs.jsonl" > "$WORK/$precision.jsonl"
  echo "analyze --model accurate, 3000 documents, $precision: $(echo "$(date +%s.%N) - $start" | bc) s"
done
python3 - "$WORK" <<'PY'
import json, math, struct, sys
work = sys.argv[1]
def rows(path):
    raw = open(path, "rb").read()
    values = struct.unpack(f"<{len(raw) // 4}f", raw)
    return [values[i:i + 384] for i in range(0, len(values), 384)]
cos = sorted(sum(a * b for a, b in zip(x, y)) / math.sqrt(sum(a * a for a in x) * sum(b * b for b in y))
             for x, y in zip(rows(f"{work}/f32.emb"), rows(f"{work}/int8.emb")))
print(f"cosine(int8, f32) over {len(cos)} reviews: min {cos[0]:.5f}, 1st percentile {cos[len(cos) // 100]:.5f}, mean {sum(cos) / len(cos):.5f}")
f32 = [json.loads(l) for l in open(f"{work}/f32.jsonl")]
int8 = [json.loads(l) for l in open(f"{work}/int8.jsonl")]
for name, lo, hi in [("MARC English reviews", 0, 1000), ("Trustpilot French reviews", 1000, 2000),
                     ("Trustpilot French titles", 2000, 3000), ("all", 0, 3000)]:
    same = sum(a["sentiment"]["label"] == b["sentiment"]["label"] for a, b in zip(f32[lo:hi], int8[lo:hi]))
    print(f"labels unchanged, {name}: {same}/{hi - lo} = {100 * same / (hi - lo):.2f} %")
pairs = [(p, q) for a, b in zip(f32, int8) for p, q in zip(a["sentences"], b["sentences"])]
same = sum(p["sentiment"]["label"] == q["sentiment"]["label"] for p, q in pairs)
print(f"labels unchanged, sentences: {same}/{len(pairs)} = {100 * same / len(pairs):.2f} %")
print(f"largest score change: {max(abs(a['sentiment']['score'] - b['sentiment']['score']) for a, b in zip(f32, int8)):.4f}")
PY
