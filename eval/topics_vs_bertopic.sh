#!/usr/bin/env bash
# Topic discovery, verbatim against BERTopic, in one run on the same embeddings and texts
# (BANKING77 train, multilingual-e5-small): NMI against the 77 intents, outlier share, topics
# found, fit time (embedding time apart: eval-topics computes the vectors once and keeps them
# under target/topics-cache). Usage:
#
#   eval/topics_vs_bertopic.sh
#
# The first run creates a Python venv in target/bertopic-venv (BERTopic without its
# sentence-transformers backend: the embeddings are given, so no torch) and installs
# multilingual-e5-small into target/encoder-bench/models; later runs reuse both.
set -euo pipefail
cd "$(dirname "$0")/.."

DATA=${VERBATIM_SHARED_DATA:-../shared/data}
MODELS=target/encoder-bench/models
VENV=target/bertopic-venv
CSV=$DATA/topics/banking77_train.csv
if [ ! -s "$CSV" ]; then
  echo "error: $CSV is missing; set VERBATIM_SHARED_DATA to the shared data folder" >&2
  exit 1
fi

cargo build --release --features training --bin verbatim --bin eval-topics >/dev/null 2>&1
./target/release/verbatim --models "$MODELS" models install multilingual-e5-small >/dev/null
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q numpy==2.4.6 scikit-learn==1.9.1 scipy==1.17.1 umap-learn==0.5.12 \
    hdbscan==0.8.44 pandas==3.1.1 PyYAML==6.0.4 tqdm==4.70.1 plotly==7.1.0
  "$VENV/bin/pip" install -q --no-deps bertopic==0.17.4
fi

echo "## verbatim (eval-topics)"
./target/release/eval-topics --data "$DATA" --models "$MODELS" --sets banking77
CACHE=$(ls -t target/topics-cache/banking77-*.f32 | head -1)
echo
echo "## Peers on the same vectors ($CACHE)"
echo
echo "| texts | vectors | method | topics given | topics found | outliers | NMI | fit s |"
echo "|---|---|---|---|---|---|---|---|"
"$VENV/bin/python" eval/bertopic_peer.py "$CACHE" "$CSV"
