"""The Python peer for benches/encoder_vs_sentence_transformers.sh: sentence-transformers on
PyTorch (CPU), same model files, same texts, same timing rule as benches/encoder.rs (one warm-up
pass, then the best of N rounds). Also reports how closely candle's embeddings agree, and writes
PyTorch's embeddings for the onnxruntime peers to compare with."""

import argparse
import time

import torch
from peers import cosines, read_embeddings, read_texts
from sentence_transformers import SentenceTransformer

parser = argparse.ArgumentParser()
parser.add_argument("--model", required=True, help="a sentence-transformers folder")
parser.add_argument("--texts", required=True)
parser.add_argument("--candle", action="append", default=[], help="candle's embeddings (f32 rows) to compare with")
parser.add_argument("--out", help="where to write PyTorch's embeddings (f32 rows)")
parser.add_argument("--rounds", type=int, default=3)
parser.add_argument("--batch-size", type=int, default=32)
args = parser.parse_args()

texts = read_texts(args.texts)
model = SentenceTransformer(args.model, device="cpu")
embeddings = model.encode(texts, batch_size=args.batch_size, normalize_embeddings=True)
best = float("inf")
for _ in range(args.rounds):
    started = time.perf_counter()
    model.encode(texts, batch_size=args.batch_size, normalize_embeddings=True)
    best = min(best, time.perf_counter() - started)
print(
    f"sentence-transformers (PyTorch {torch.__version__}, {torch.get_num_threads()} threads, "
    f"batch {args.batch_size}): {len(texts)} texts, best of {args.rounds}: {best:.2f} s = {len(texts) / best:.1f} texts/s"
)
if args.out:
    embeddings.astype("<f4").tofile(args.out)
for path in args.candle:
    cosine = cosines(read_embeddings(path, len(texts)), embeddings)
    print(f"agreement: cosine(candle {path}, PyTorch) min {cosine.min():.6f}, mean {cosine.mean():.6f}")
