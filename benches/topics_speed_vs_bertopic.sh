#!/usr/bin/env bash
# benches/topics_speed.sh's workload (100,000 verbatims, embeddings given) through verbatim's
# default discovery and through BERTopic's defaults, in one run. Needs the venv that
# eval/topics_vs_bertopic.sh creates (target/bertopic-venv) and its cached BANKING77 vectors.
# Usage:
#
#   benches/topics_speed_vs_bertopic.sh [COUNT]
set -euo pipefail
cd "$(dirname "$0")/.."

DATA=${VERBATIM_SHARED_DATA:-../shared/data}
COUNT=${1:-100000}
VENV=target/bertopic-venv
if [ ! -x "$VENV/bin/python" ] || ! ls target/topics-cache/banking77-*.f32 >/dev/null 2>&1; then
  echo "error: run eval/topics_vs_bertopic.sh once first (it makes the venv and the vectors)" >&2
  exit 1
fi
echo "## verbatim"
benches/topics_speed.sh "$COUNT"
echo "## BERTopic"
CACHE=$(ls -t target/topics-cache/banking77-*.f32 | head -1)
/usr/bin/time -f "peak memory: %M KB" \
  "$VENV/bin/python" benches/bertopic_speed.py "$CACHE" "$DATA/topics/banking77_train.csv" "$COUNT"
