"""BERTopic on the embeddings eval-topics computed (the same multilingual-e5-small vectors,
"query: " prefix, mean pooling), for eval/topics_vs_bertopic.sh.

Prints Markdown rows in eval-topics' table format: BERTopic's defaults (UMAP 5-d + HDBSCAN,
min_topic_size 10), the same after reduce_outliers(strategy="embeddings"), and scikit-learn's
k-means with the gold number of classes.
"""
import csv
import sys
import time

import numpy as np
from bertopic import BERTopic
from sklearn.cluster import KMeans
from sklearn.metrics import normalized_mutual_info_score as nmi
from umap import UMAP

embeddings_path, csv_path = sys.argv[1], sys.argv[2]
rows = list(csv.DictReader(open(csv_path, encoding="utf-8")))
docs = [r["text"] for r in rows]
gold = [r["category"] for r in rows]
embeddings = np.fromfile(embeddings_path, dtype="<f4").reshape(len(docs), -1)


def row(method, given, topics, found):
    found = np.asarray(found)
    outliers = 100.0 * float((found == -1).mean())
    print(f"| all | encoder | {method} | {given} | {topics} | {outliers:.1f} % | {nmi(gold, found):.3f} | {seconds:.1f} |")


started = time.perf_counter()
# BERTopic's default UMAP, seeded so that reruns agree.
umap = UMAP(n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", random_state=42)
model = BERTopic(embedding_model=None, umap_model=umap, min_topic_size=10)
topics, _ = model.fit_transform(docs, embeddings=embeddings)
seconds = time.perf_counter() - started
found_topics = len(set(topics) - {-1})
row("BERTopic (UMAP + HDBSCAN)", "auto", found_topics, topics)
started = time.perf_counter()
reduced = model.reduce_outliers(docs, topics, strategy="embeddings", embeddings=embeddings)
seconds += time.perf_counter() - started
row("BERTopic + reduce_outliers", "auto", found_topics, reduced)
classes = len(set(gold))
started = time.perf_counter()
labels = KMeans(classes, n_init=4, random_state=42).fit_predict(embeddings)
seconds = time.perf_counter() - started
row("scikit-learn k-means", classes, classes, labels)
