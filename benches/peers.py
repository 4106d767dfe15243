"""What the Python peers of benches/encoder_vs_sentence_transformers.sh share: the texts read as
benches/encoder.rs reads them, and the agreement of two sets of embeddings."""

import numpy as np


def read_texts(path):
    """The file's non-blank lines, split as Rust's str::lines does (on "\\n" only, dropping a "\\r"
    before it), not as splitlines() does, which also splits on form feeds and other separators
    found in tweets."""
    raw = open(path, encoding="utf-8", newline="").read().split("\n")
    return [line.removesuffix("\r") for line in raw if line.strip()]


def read_embeddings(path, rows):
    """Embeddings written as little-endian f32 rows."""
    return np.fromfile(path, dtype="<f4").reshape(rows, -1)


def cosines(a, b):
    """Each row's cosine between `a` and `b`."""
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
