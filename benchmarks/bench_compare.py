"""`pixret compare --json` without a baseline at 10 and 40 methods (issue 26: it grew with the
square of the method count, 10 s at 40 methods).

Writes a 70-query benchmark and N perturbed methods in a results tree, scores them once (the
cache is warm for every timed run), then times in the same process:
  * pixret: ``compare`` + ``as_dict()`` (each method against the best of each cell);
  * baseline: the tests the old JSON made, every pair of methods on every cell (paired_test).

    python benchmarks/bench_compare.py [--methods 10,40]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from itertools import combinations
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pixret.datasets import load_benchmark  # noqa: E402
from pixret.evaluation.compare import compare  # noqa: E402
from pixret.evaluation.significance import paired_test  # noqa: E402
from tests.helpers import blob, write_method, write_release  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--methods", default="10,40")
    ap.add_argument("--queries", type=int, default=70)
    args = ap.parse_args()
    counts = [int(v) for v in args.methods.split(",")]
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        n_db = 200
        queries, labels = [], {}
        for q in range(args.queries):
            perm = rng.permutation(n_db)
            queries.append({"easy": perm[:4].tolist(), "hard": perm[4:7].tolist(), "junk": perm[7:9].tolist()})
            for i in perm[:7]:
                labels[(q, int(i))] = [blob(rng, 320, 240)]
        write_release(root, "proxford", queries, n_db, labels, size=(320, 240))
        bench = load_benchmark(root, "proxford")
        rows = []
        for n in counts:
            results = root / f"results{n}"
            for m in range(n):
                write_method(results, bench, f"m{m:02d}", 0.01 * m, 0.1, 0.02 * m, m)
            compare(root, results)  # score once: the timed runs read the cache
            t0 = time.perf_counter()
            cmp = compare(root, results)
            doc = cmp.as_dict()
            ours = time.perf_counter() - t0
            t0 = time.perf_counter()
            old = 0
            for a, b in combinations(cmp.methods, 2):
                for c in cmp.contrasts()[: 8]:  # the 8 cells of one dataset and protocol
                    paired_test(cmp.per_query(a, *c[2:]), cmp.per_query(b, *c[2:]))
                    old += 1
            pairs = time.perf_counter() - t0
            rows.append((n, ours, len(doc["paired_tests"]), pairs, old))
            print(f"{n} methods: compare --json {ours:.2f} s ({len(doc['paired_tests'])} tests); every pair: "
                  f"{pairs:.2f} s ({old} tests)")  # fmt: skip
        if len(rows) >= 2:
            (n0, t0_, k0, p0, o0), (n1, t1, k1, p1, o1) = rows[0], rows[-1]
            print(f"{n1} vs {n0} methods: pixret x{t1 / t0_:.1f} time, x{k1 / k0:.1f} tests (methods x{n1 / n0:.1f}); "
                  f"every pair x{p1 / p0:.1f} time, x{o1 / o0:.1f} tests")  # fmt: skip


if __name__ == "__main__":
    main()
