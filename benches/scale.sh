#!/usr/bin/env bash
# Ingestion and reprocessing at scale, through the release binary, with language detection on
# (the generated verbatims carry no `language`): `verbatim ingest` of 100,000 and 1,000,000
# verbatims into fresh data directories; `verbatim reprocess --model fast` of 200,000 lines
# (plain, gzip-compressed, into Parquet) and of 1,000,000; then, over the 1,000,000 stored,
# `verbatim reprocess --model fast` of the stored corpus (back into store and index) and
# `verbatim export` as JSONL and Parquet. Each is timed from process start to exit with its
# peak resident memory (GNU time). Prints a Markdown table for benches/RESULTS.md.
#
#   benches/scale.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v /usr/bin/time >/dev/null || { echo "error: needs GNU time (/usr/bin/time)" >&2; exit 1; }

cargo build --release --locked --bin verbatim >/dev/null 2>&1
BIN=target/release/verbatim
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# Deterministic French and English customer feedback: five templates each, numbers varied,
# seven channels, NPS and dates; unique ids.
python3 - "$WORK/1m.jsonl" <<'PY'
import json, random, sys
random.seed(5)
fr = ["La livraison est arrivée avec {n} jours de retard, très déçu", "Service client désagréable, j'ai attendu {n} minutes",
      "Produit conforme mais l'emballage était abîmé", "Très satisfait de la qualité, je recommande",
      "Le remboursement n'est toujours pas arrivé après {n} semaines"]
en = ["Delivery was {n} days late and nobody told me", "Customer service was rude, waited {n} minutes on hold",
      "The product is fine but the packaging was damaged", "Really happy with the quality, would recommend",
      "Still waiting for my refund after {n} weeks"]
channels = ["survey", "email", "review", "app", "sms", "call", "store"]
with open(sys.argv[1], "w") as f:
    for i in range(1_000_000):
        text = random.choice(fr if i % 2 else en).format(n=random.randint(2, 30))
        f.write(json.dumps({"id": f"v{i}", "text": text, "channel": random.choice(channels),
                            "nps": random.randint(0, 10), "created_at": f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}"},
                           ensure_ascii=False) + "\n")
PY
head -100000 "$WORK/1m.jsonl" > "$WORK/100k.jsonl"
head -200000 "$WORK/1m.jsonl" > "$WORK/200k.jsonl"
gzip -k "$WORK/200k.jsonl"

# run LABEL LINES COMMAND…: one table row.
run() {
  local label=$1 lines=$2
  shift 2
  rm -f "$WORK/out.jsonl" "$WORK/out.parquet"
  /usr/bin/time -f "%e %M" -o "$WORK/time" "$@" >/dev/null 2>"$WORK/stderr" || { cat "$WORK/stderr" >&2; exit 1; }
  read -r seconds kb < "$WORK/time"
  awk -v l="$label" -v n="$lines" -v s="$seconds" -v k="$kb" \
    'BEGIN { printf "| %s | %d | %.2f | %.0f | %.0f MB |\n", l, n, s, n / s, k / 1024 }'
}

echo "| command | lines | seconds | lines/s | peak memory |"
echo "|---|---|---|---|---|"
run "ingest" 100000 "$BIN" --data "$WORK/data" ingest "$WORK/100k.jsonl"
rm -rf "$WORK/data"
run "ingest" 1000000 "$BIN" --data "$WORK/data" ingest "$WORK/1m.jsonl"
run "reprocess --model fast" 200000 "$BIN" --data "$WORK/data" reprocess --input "$WORK/200k.jsonl" --output "$WORK/out.jsonl"
run "reprocess --model fast, gzip input" 200000 "$BIN" --data "$WORK/data" reprocess --input "$WORK/200k.jsonl.gz" --output "$WORK/out.jsonl"
run "reprocess --model fast, Parquet output" 200000 "$BIN" --data "$WORK/data" reprocess --input "$WORK/200k.jsonl" --output "$WORK/out.parquet"
run "reprocess --model fast" 1000000 "$BIN" --data "$WORK/data" reprocess --input "$WORK/1m.jsonl" --output "$WORK/out.jsonl"
run "reprocess --model fast, the 1M stored" 1000000 "$BIN" --data "$WORK/data" reprocess --model fast
EMAIL=$("$BIN" --data "$WORK/data" search -f channel=email -f limit=1 | python3 -c 'import json, sys; print(json.load(sys.stdin)["total"])')
run "reprocess --model fast, stored, -f channel=email" "$EMAIL" "$BIN" --data "$WORK/data" reprocess --model fast -f channel=email
run "export --format jsonl, the 1M stored" 1000000 "$BIN" --data "$WORK/data" export --output "$WORK/out.jsonl"
run "export --format parquet, the 1M stored" 1000000 "$BIN" --data "$WORK/data" export --format parquet --output "$WORK/out.parquet"
