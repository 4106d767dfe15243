"""BERTopic's fit time on the workload of benches/topics_speed.sh: BANKING77 train's queries
repeated to COUNT, each copy's cached multilingual-e5-small vector moved by seeded uniform
noise (±0.02 per dimension, renormalised), as eval-topics --speed builds it (numpy's noise,
not Rust's: the same construction, not the same bytes). Default BERTopic (UMAP 5-d + HDBSCAN,
min_topic_size 10), embeddings given.

Usage: bertopic_speed.py EMBEDDINGS.f32 BANKING77_TRAIN.csv COUNT
"""
import csv
import sys
import time

import numpy as np
from bertopic import BERTopic
from umap import UMAP

embeddings_path, csv_path, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
texts = [r["text"] for r in csv.DictReader(open(csv_path, encoding="utf-8"))]
base = np.fromfile(embeddings_path, dtype="<f4").reshape(len(texts), -1)
rows = np.arange(count) % len(texts)
rng = np.random.default_rng(3)
vectors = base[rows] + rng.uniform(-0.02, 0.02, size=(count, base.shape[1])).astype("<f4")
vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
docs = [texts[i] for i in rows]

started = time.perf_counter()
umap = UMAP(n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", random_state=42)
model = BERTopic(embedding_model=None, umap_model=umap, min_topic_size=10)
topics, _ = model.fit_transform(docs, embeddings=vectors)
seconds = time.perf_counter() - started
outliers = sum(1 for t in topics if t == -1)
print(
    f"BERTopic over {count} verbatims (embeddings given): {seconds:.1f} s, "
    f"{len(set(topics) - {-1})} topics, {outliers} outliers ({100.0 * outliers / count:.1f} %)"
)
