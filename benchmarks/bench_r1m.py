"""R1M evaluation: `pixret evaluate --protocol both` vs loading the ranks + a plain revisitop mAP.

Writes an R1M-sized set in the release layout: PROxford-sized labels (70 queries, ~5.5k
labelled pairs, 1024x768 images), 1,000,000 distractor names, a (1,004,993 x 70) int64 ranking
(563 MB) and a PROxford-sized (x, y) pixel file. Then, each in a fresh process, measures:
  * baseline: np.load of the ranks + revisitop's compute_map (Medium), as the release's
    utils/evaluate.py does it (np.isin for its removed np.in1d);
  * pixret: the `pixret evaluate` command, both protocols.
Prints wall time, peak RSS (the process and its workers) and the ratios the target names:
pixret within 3x of the baseline, peak RSS under 2x the ranks file.

    python benchmarks/bench_r1m.py [--distractors 1000000] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_iou import blob  # noqa: E402
from tests.helpers import write_release  # noqa: E402

W, H = 1024, 768

# revisitop's compute_map (utils/evaluate.py of the release), run in its own process
BASELINE = r"""
import sys, time, pickle
import numpy as np
t0 = time.perf_counter()
ranks = np.load(sys.argv[1])
t_load = time.perf_counter() - t0
gnd = pickle.load(open(sys.argv[2], "rb"))["gnd"]
def compute_ap(ranks, nres):
    ap, step = 0.0, 1.0 / nres
    for j, r in enumerate(ranks):
        p0 = 1.0 if r == 0 else float(j) / r
        ap += (p0 + float(j + 1) / (r + 1)) * step / 2.0
    return ap
t1 = time.perf_counter()
total, nq = 0.0, 0
for i, g in enumerate(gnd):
    qgnd = np.concatenate([g["easy"], g["hard"]]); qgndj = np.array(g["junk"])
    if not len(qgnd):
        continue
    pos = np.arange(ranks.shape[0])[np.isin(ranks[:, i], qgnd)]
    junk = np.arange(ranks.shape[0])[np.isin(ranks[:, i], qgndj)]
    k = ij = ip = 0
    while ip < len(pos):
        while ij < len(junk) and pos[ip] > junk[ij]:
            k += 1; ij += 1
        pos[ip] -= k; ip += 1
    total += compute_ap(pos, len(qgnd)); nq += 1
print(f"{t_load:.3f} {time.perf_counter() - t1:.3f} {total / nq:.6f}")
"""


def make_set(root: Path, n_distractors: int, seed: int = 0) -> tuple[Path, Path, Path]:
    """Labels, gnd and R1M names in the release layout; ranks.npy and pixels.npy beside them."""
    rng = np.random.default_rng(seed)
    n_q, n_ox, per_q = 70, 4993, 79
    queries, labels, preds = [], {}, {}
    for q in range(n_q):
        perm = rng.permutation(n_ox)
        nh = per_q // 3
        pos = perm[:per_q]
        queries.append(
            {"easy": pos[nh:].tolist(), "hard": pos[:nh].tolist(), "junk": perm[per_q : per_q + 10].tolist()}
        )
        for i in pos:
            gt = blob(rng)
            labels[(q, int(i))] = [gt]
            if rng.random() < 0.9:
                preds[f"qimlist_{q}_imlist_{i}"] = gt + rng.normal(0, 20, gt.shape) + rng.normal(0, 30, 2)
    names = [f"r1m_{k:07d}" for k in range(n_distractors)]
    base = write_release(root, "r1m-proxford", queries, n_ox, labels, size=(W, H), r1m=names)
    n_db = n_ox + n_distractors
    ranks = np.empty((n_db, n_q), np.int64)
    for q in range(n_q):  # a method that ranks positives high, not perfectly
        score = rng.random(n_db)
        good = np.r_[queries[q]["easy"], queries[q]["hard"]]
        score[good] += rng.uniform(0.5, 1.5, len(good))
        ranks[:, q] = np.argsort(-score, kind="stable")
    np.save(root / "ranks.npy", ranks)
    np.save(root / "pixels.npy", preds, allow_pickle=True)
    return base, root / "ranks.npy", root / "pixels.npy"


def run_measured(cmd: list[str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MB of the process and its workers, stdout) of one command."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)  # Linux: the peak covers the children it reaped
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode:
            raise SystemExit(f"{cmd[:4]} failed ({proc.returncode}):\n{err.read()[-2000:]}")
        return wall, usage.ru_maxrss / 1024, out.read()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--distractors", type=int, default=1_000_000)
    ap.add_argument("--workdir", type=Path, default=None, help="keep the generated set here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        t0 = time.perf_counter()
        base, ranks, pixels = make_set(work, args.distractors)
        mb = ranks.stat().st_size / 2**20
        print(f"generated in {time.perf_counter() - t0:.0f} s: ranks {mb:.0f} MB, {ranks}")
        gnd = base / "revisitop" / "data" / "roxford5k" / "gnd_roxford5k.pkl"
        os.sync()
        cmd = [sys.executable, "-c", "from pixret.cli import main; main()", "evaluate", "--root", str(work),
               "--dataset", "r1m-proxford", "--image-results", str(ranks), "--pixel-results", str(pixels),
               "--protocol", "both", "--json", str(work / "scores.json")]  # fmt: skip
        px_wall, px_peak, _ = run_measured(cmd)
        b_wall, b_peak, out = run_measured([sys.executable, "-c", BASELINE, str(ranks), str(gnd)])
        t_load, t_map, base_map = (float(v) for v in out.split())
        got = json.loads((work / "scores.json").read_text())["strict"]["image_mAP"]["medium"]
        print(
            f"baseline (fresh process): load {t_load:.2f} s + revisitop mAP {t_map:.2f} s = "
            f"{t_load + t_map:.2f} s; process {b_wall:.2f} s, peak RSS {b_peak:.0f} MB"
        )
        print(f"pixret evaluate --protocol both (fresh process): {px_wall:.2f} s, peak RSS {px_peak:.0f} MB")
        print(f"image mAP Medium: baseline {100 * base_map:.3f}, pixret {100 * got:.3f}")
        print(
            f"ratio pixret / (load + mAP): {px_wall / (t_load + t_map):.2f}x (target <= 3); "
            f"vs the baseline process: {px_wall / b_wall:.2f}x"
        )
        print(f"peak RSS / ranks file: {px_peak / mb:.2f}x (target < 2)")


if __name__ == "__main__":
    main()
