#!/usr/bin/env bash
# Topic discovery's speed on 100,000 verbatims once their embeddings exist (the encoder's own
# speed is benches/encoder*): BANKING77 train's 10,003 queries ten times over, each copy's
# multilingual-e5-small vector moved by seeded noise so that no two are equal; one default
# discovery (Leiden on a 20,000 sample, the rest assigned, names from all 100,000 texts). Usage:
#
#   benches/topics_speed.sh [COUNT]
set -euo pipefail
cd "$(dirname "$0")/.."

DATA=${VERBATIM_SHARED_DATA:-../shared/data}
MODELS=target/encoder-bench/models
cargo build --release --features training --bin verbatim --bin eval-topics >/dev/null 2>&1
./target/release/verbatim --models "$MODELS" models install multilingual-e5-small >/dev/null
/usr/bin/time -f "peak memory: %M KB" \
  ./target/release/eval-topics --data "$DATA" --models "$MODELS" --sets banking77 --speed "${1:-100000}"
