"""The onnxruntime peers for benches/encoder_vs_sentence_transformers.sh: the same model exported
to ONNX with torch.onnx.export (fp32), and that graph dynamically quantised to int8 two ways:
onnxruntime's defaults (per tensor, the embedding table included: what most users run) and
per output channel on the matrix products only (what verbatim's int8 encoder does). Same
texts, same batching as sentence-transformers (sorted by length in characters, batches of 32,
padded to the longest), same timing rule as the other engines: tokenising is inside the timed
rounds, one warm-up pass, then the best of N rounds; mean pooling and L2 normalisation as the
model's sentence-transformers settings say. Reports each peer's agreement with the PyTorch
embeddings (the reference). The graphs are exported again on every run, so a new model or
library version is never measured on a stale graph."""

import argparse
import os
import time
from pathlib import Path

import numpy as np
import onnxruntime
import torch
from onnxruntime.quantization import QuantType, quantize_dynamic
from peers import cosines, read_embeddings, read_texts
from tokenizers import Tokenizer
from transformers import AutoModel

parser = argparse.ArgumentParser()
parser.add_argument("--model", required=True, help="a Hugging Face model folder (config, weights, tokenizer.json)")
parser.add_argument("--texts", required=True)
parser.add_argument("--work", required=True, help="where the exported graphs are written")
parser.add_argument("--reference", required=True, help="PyTorch's embeddings (f32 rows) to compare with")
parser.add_argument("--rounds", type=int, default=3)
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument("--max-tokens", type=int, default=256, help="sentence-transformers' max_seq_length")
args = parser.parse_args()

texts = read_texts(args.texts)
work = Path(args.work)
work.mkdir(parents=True, exist_ok=True)


class LastHiddenState(torch.nn.Module):
    """The encoder with keyword inputs and one output: what the exported graph computes."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, token_type_ids):
        return self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state


fp32 = work / "model.fp32.onnx"
dummy = torch.ones((2, 8), dtype=torch.int64)
axes = {0: "batch", 1: "tokens"}
torch.onnx.export(
    LastHiddenState(AutoModel.from_pretrained(args.model).eval()), (dummy, dummy, torch.zeros_like(dummy)), str(fp32),
    dynamo=False, opset_version=17, input_names=["input_ids", "attention_mask", "token_type_ids"],
    output_names=["last_hidden_state"],
    dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes, "last_hidden_state": axes},
)
graphs = [("fp32", fp32)]
for name, file, options in [
    ("int8, quantize_dynamic defaults", "model.int8.onnx", {}),
    ("int8, per channel, MatMul only", "model.int8-matmul.onnx", {"per_channel": True, "op_types_to_quantize": ["MatMul"]}),
]:
    quantize_dynamic(str(fp32), str(work / file), weight_type=QuantType.QInt8, **options)
    graphs.append((name, work / file))

tokenizer = Tokenizer.from_file(str(Path(args.model) / "tokenizer.json"))
tokenizer.enable_truncation(args.max_tokens)
tokenizer.no_padding()
order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
threads = os.cpu_count()


def embed(session):
    """Every text's embedding, in the input order."""
    rows = [None] * len(texts)
    for start in range(0, len(order), args.batch_size):
        batch = order[start : start + args.batch_size]
        encodings = tokenizer.encode_batch([texts[i] for i in batch])
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(batch), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        hidden = session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})[0]
        pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
        pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
        for row, i in enumerate(batch):
            rows[i] = pooled[row]
    return np.stack(rows)


reference = read_embeddings(args.reference, len(texts))
for name, path in graphs:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    embeddings = embed(session)
    best = float("inf")
    for _ in range(args.rounds):
        started = time.perf_counter()
        embed(session)
        best = min(best, time.perf_counter() - started)
    cosine = cosines(embeddings, reference)
    print(
        f"onnxruntime {onnxruntime.__version__} {name} ({threads} threads, batch {args.batch_size}): {len(texts)} texts, "
        f"best of {args.rounds}: {best:.2f} s = {len(texts) / best:.1f} texts/s; "
        f"cosine to PyTorch min {cosine.min():.6f}, mean {cosine.mean():.6f}"
    )
