#!/usr/bin/env bash
# Root causes against gold causes: airline tweets (negative, with a known reason), CFPB
# complaint narratives (the filed issue), and our bilingual check set (eval/data: the same
# eight causes written in French and in English). Each set runs through `verbatim root-causes`
# with the fast tier and hashed vectors, and, given a models folder, with the accurate tier
# and multilingual-e5-small; eval/root_causes_score.py scores each run.
#
#   eval/root_causes.sh [MODELS_DIR]      (DATA=../shared/data by default)
#
# Nothing here trains on these sets: the causes come from cue words, the aspect tagger
# (restaurant reviews) and the sentiment tiers; the groups are found without labels.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}
MODELS=${1:-}
cargo build --release --bin verbatim >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$DATA" "$work" <<'PY'
import csv, json, sys
data, work = sys.argv[1], sys.argv[2]
def write(name, rows):
    with open(f"{work}/{name}.gold.jsonl", "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
seen = set()
airline = []
for row in csv.DictReader(open(f"{data}/rootcause/airline_tweets_train.csv", encoding="utf-8")):
    if row["airline_sentiment"] == "negative" and row["negativereason"] not in ("", "Can't Tell") and row["tweet_id"] not in seen:
        seen.add(row["tweet_id"])
        airline.append({"id": row["tweet_id"], "text": row["text"], "language": "en", "gold": row["negativereason"]})
write("airline", airline)
cfpb = [{"id": row["complaint_id"], "text": row["narrative"], "language": "en", "gold": row["issue"]}
        for row in csv.DictReader(open(f"{data}/rootcause/en_cfpb_complaints_train.csv", encoding="utf-8"))]
write("cfpb", cfpb)
PY
cp eval/data/root_causes_bilingual.jsonl "$work/bilingual.gold.jsonl"
mkdir -p "$work/no-models"
for set in airline cfpb bilingual; do
  python3 -c 'import json,sys
for line in sys.stdin:
    row = json.loads(line); row.pop("gold"); print(json.dumps(row, ensure_ascii=False))' \
    < "$work/$set.gold.jsonl" > "$work/$set.jsonl"
  runs=("fast:$work/no-models")
  [ -n "$MODELS" ] && runs+=("accurate:$MODELS")
  for run in "${runs[@]}"; do
    tier=${run%%:*} models=${run#*:}
    start=$(date +%s.%N)
    target/release/verbatim --data "$work/data" --models "$models" root-causes --input "$work/$set.jsonl" \
      --summary "$work/$set.$tier.summary.json" > "$work/$set.$tier.jsonl" 2> "$work/$set.$tier.log" \
      || { cat "$work/$set.$tier.log" >&2; exit 1; }
    seconds=$(python3 -c "print(f'{$(date +%s.%N) - $start:.1f}')")
    python3 eval/root_causes_score.py "$work/$set.gold.jsonl" "$work/$set.$tier.jsonl" "$set, $tier tier ($seconds s)" \
      "$work/$set.$tier.summary.json"
  done
done
