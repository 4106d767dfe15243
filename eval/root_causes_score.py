"""Scores `verbatim root-causes` against gold causes (used by eval/root_causes.sh).

Reads the gold file (JSONL: id, text, gold) and the command's output (JSONL: id, root_causes),
and prints: the share of verbatims given a root cause; the NMI between each verbatim's first
root cause and its gold cause, over the verbatims given one and over all (none counting as one
more group); and which gold causes name the largest groups (each group named by the gold cause
most of its verbatims carry), against the most frequent gold causes; given the summary, the
number of root causes and the largest. Standard library only.
"""
import collections
import json
import math
import sys


def nmi(a, b):
    n = len(a)
    if n == 0:
        return 0.0
    ca, cb, cab = collections.Counter(a), collections.Counter(b), collections.Counter(zip(a, b))
    mi = sum(c / n * math.log(c * n / (ca[x] * cb[y])) for (x, y), c in cab.items())
    ha = -sum(c / n * math.log(c / n) for c in ca.values())
    hb = -sum(c / n * math.log(c / n) for c in cb.values())
    return 0.0 if ha == 0 or hb == 0 else mi / math.sqrt(ha * hb)


def main(gold_path, output_path, name, summary_path=None, top=5):
    gold = {}
    for line in open(gold_path, encoding="utf-8"):
        row = json.loads(line)
        gold[row["id"]] = row["gold"]
    first = {}
    for line in open(output_path, encoding="utf-8"):
        row = json.loads(line)
        causes = row.get("root_causes") or []
        first[row["id"]] = (causes[0]["id"], causes[0]["label"]) if causes else None
    ids = [i for i in gold if i in first]
    covered = [i for i in ids if first[i] is not None]
    print(f"{name}: {len(ids)} verbatims, {len(covered) / max(len(ids), 1):.1%} given a root cause")
    print(f"  NMI first root cause vs gold: {nmi([gold[i] for i in covered], [first[i][0] for i in covered]):.3f}"
          f" over those given one; {nmi([gold[i] for i in ids], [first[i][0] if first[i] else -1 for i in ids]):.3f}"
          " over all (none as one group)")
    sizes = collections.Counter(first[i][0] for i in covered)
    label = {first[i][0]: first[i][1] for i in covered}
    frequent = [g for g, _ in collections.Counter(gold[i] for i in ids).most_common(top)]
    named = []
    for group, size in sizes.most_common(top):
        majority, count = collections.Counter(gold[i] for i in covered if first[i][0] == group).most_common(1)[0]
        named.append(majority)
        print(f"  group {group} ({size}, \"{label[group]}\"): {majority} ({count / size:.0%})")
    hit = [g for g in frequent if g in named]
    print(f"  the {top} largest groups cover {len(hit)} of the {top} most frequent gold causes ({', '.join(frequent)})")
    if summary_path:
        ranked = json.load(open(summary_path, encoding="utf-8"))["root_causes"]
        largest = "; ".join(f"{c['label']} ({c['verbatims']})" for c in ranked[:top])
        print(f"  {len(ranked)} root causes; the largest: {largest}")


if __name__ == "__main__":
    main(*sys.argv[1:5])
