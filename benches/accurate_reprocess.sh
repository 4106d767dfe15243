#!/usr/bin/env bash
# The accurate tier on the CPU, through the release binary, on real customer reviews: 1,000
# English (MARC, Amazon) and 1,000 French (Trustpilot) reviews from ../shared/data, as
# verbatims. Runs `verbatim reprocess --model accurate` over the file (documents and their
# sentences, as `analyze` gives them) and, once ingested, over the stored corpus (document
# sentiment, written back to the store and the index). Each is timed from process start to
# exit with its peak resident memory (GNU time). Prints a Markdown table for benches/RESULTS.md.
#
#   benches/accurate_reprocess.sh [COUNT_PER_LANGUAGE]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v /usr/bin/time >/dev/null || { echo "error: needs GNU time (/usr/bin/time)" >&2; exit 1; }
DATA=${VERBATIM_SHARED_DATA:-../shared/data}
PER_LANGUAGE=${1:-1000}
for file in "$DATA/sentiment/en_marc_reviews_train.csv" "$DATA/sentiment/fr_trustpilot_reviews.csv"; do
  [ -s "$file" ] || { echo "error: $file is missing; set VERBATIM_SHARED_DATA to the shared data folder" >&2; exit 1; }
done

cargo build --release --locked --bin verbatim >/dev/null 2>&1
BIN=target/release/verbatim
MODELS=target/encoder-bench/models
"$BIN" --models "$MODELS" models install multilingual-e5-small >/dev/null
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

python3 - "$DATA" "$PER_LANGUAGE" "$WORK/reviews.jsonl" <<'PY'
import csv, json, sys
data, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rows = []
with open(f"{data}/sentiment/en_marc_reviews_train.csv", encoding="utf-8") as f:
    rows += [("en", r["review_body"]) for r in csv.DictReader(f)][:n]
with open(f"{data}/sentiment/fr_trustpilot_reviews.csv", encoding="utf-8") as f:
    rows += [("fr", r["content_review"]) for r in csv.DictReader(f, delimiter=";")][:n]
if len(rows) < 2 * n:
    sys.exit(f"error: only {len(rows)} reviews found")
with open(out, "w", encoding="utf-8") as f:
    for i, (language, text) in enumerate(rows):
        f.write(json.dumps({"id": f"r{i}", "text": text, "language": language, "channel": "review"}, ensure_ascii=False) + "\n")
PY
LINES=$((2 * PER_LANGUAGE))
CHARS=$(python3 -c "import json,sys; t=[len(json.loads(l)['text']) for l in open(sys.argv[1])]; print(sum(t)//len(t))" "$WORK/reviews.jsonl")

run() {
  local label=$1
  shift
  /usr/bin/time -f "%e %M" -o "$WORK/time" "$@" >/dev/null 2>"$WORK/stderr" || { cat "$WORK/stderr" >&2; exit 1; }
  read -r seconds kb < "$WORK/time"
  awk -v l="$label" -v n="$LINES" -v s="$seconds" -v k="$kb" \
    'BEGIN { printf "| %s | %d | %.1f | %.1f | %.0f MB |\n", l, n, s, n / s, k / 1024 }'
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $LINES reviews, $CHARS characters on average"
echo
echo "| command | verbatims | seconds | verbatims/s | peak memory |"
echo "|---|---|---|---|---|"
run "reprocess --model accurate, file (documents and sentences)" "$BIN" --models "$MODELS" --data "$WORK/data" reprocess --model accurate --input "$WORK/reviews.jsonl" --output "$WORK/out.jsonl"
"$BIN" --data "$WORK/data" ingest "$WORK/reviews.jsonl" >/dev/null 2>&1
run "reprocess --model accurate, the stored corpus (documents)" "$BIN" --models "$MODELS" --data "$WORK/data" reprocess --model accurate
