"""Scale benchmark (README "Scaling out"): indexes of 10k, 100k and 1M images, built and searched
with the R1M config (`fast-compact`), without a million photos.

The collection at each scale:
- base: a generated benchmark (default the 5,000 images of `bench_engine.py --scaling 5000`,
  24 queries), described for real (SIFT) and indexed by ``Index.build`` on Dask;
- pool: the keypoints, words and signatures of the base images that no query relates to;
- every further image is re-sampled from the pool: the features of one pool image (a random
  50-100 %) and of another (up to 50 %), moved by a random similarity and jittered, with about
  3 of the 64 signature bits flipped (which also moves features between split words). Real
  word statistics and bursts, no extraction. These shards are written on the Dask cluster by the
  same ``shards.postings`` / ``write_shard`` as a real build, then ``Index.publish`` computes idf
  and norms over the whole collection.

Per scale it prints: build time (distractor shards + publish, measured; extraction and word
assignment of real photos extrapolated from the measured per-worker rates), disk and RAM per
image (the process's own memory growth, and the postings a query reads from the page cache),
query p50/p95 over the base queries (the whole search: features, shortlist, verification,
masks), positives verified and unrelated images verified, pixel mAP over the base images, the
shortlist's recall of the positives that exact tf-idf (``shortlist.InvertedFile``, float CSR)
puts in its top 100 (10k and 100k), and a JSON line.

    python benchmarks/bench_scale.py --work bench-work --scales 10000 100000 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_engine import generated, subset_scores  # noqa: E402

from pixret.engine import Index, get_config  # noqa: E402
from pixret.engine.build import _assign, save_quantizer, shard_arrays  # noqa: E402
from pixret.engine.config import with_top_k  # noqa: E402
from pixret.engine.distributed import Runner  # noqa: E402
from pixret.engine.features import extract_in_box  # noqa: E402
from pixret.engine.index import writer_lock  # noqa: E402
from pixret.engine.shards import shard_name, write_shard  # noqa: E402
from pixret.engine.shortlist import auto_top_k  # noqa: E402
from pixret.engine.store import claim  # noqa: E402
from pixret.engine.vocabulary import split_words  # noqa: E402
from pixret.evaluation import PixelPrediction  # noqa: E402
from pixret.imageio import load_image  # noqa: E402
from pixret.io import save_npy  # noqa: E402
from pixret.pipelines.benchmark import database_paths  # noqa: E402
from tests.reference.tfidf import InvertedFile  # noqa: E402

EXTRACT_PER_WORKER = 2.5  # images/s per worker on 1024-px photos (benchmarks/bench_extract.py)
POOL_ARRAYS = ("offsets", "kpts", "words", "sigs", "sizes")


# ------------------------------------------------------------------ the collection
def make_pool(base: Index, bench, folder: Path) -> Path:
    """Features of the base images no query relates to, as memory-mappable arrays."""
    if (folder / "done").exists():
        return folder
    related = set()
    for q in bench.queries:
        related |= set(q.positives.tolist()) | set(q.junk.tolist())
    keep = [i for i in range(len(base)) if i not in related]
    parts = [base.side(i) for i in keep]
    save_npy(folder / "offsets.npy", np.r_[0, np.cumsum([len(p.kpts) for p in parts])].astype(np.int64))
    save_npy(folder / "kpts.npy", np.concatenate([p.kpts for p in parts]).astype(np.float32))
    save_npy(folder / "words.npy", np.concatenate([p.words for p in parts]))
    save_npy(folder / "sigs.npy", np.concatenate([p.sigs for p in parts]))
    save_npy(folder / "sizes.npy", np.array([p.size for p in parts], np.int32))
    save_npy(folder / "paths.npy", np.array([base.images[i]["path"] for i in keep]))
    (folder / "done").write_text("")
    return folder


def _resample(pool: dict, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """One synthetic image's (kpts, words, sigs) and the pool image it is based on."""
    n_pool = len(pool["sizes"])
    a, b = rng.integers(n_pool, size=2)
    kp, wd, sg = [], [], []
    w, h = pool["sizes"][a]
    for src, frac in ((a, rng.uniform(0.5, 1.0)), (b, rng.uniform(0.0, 0.5))):
        lo, hi = pool["offsets"][src], pool["offsets"][src + 1]
        n = hi - lo
        pick = lo + np.sort(rng.choice(n, int(frac * n), replace=False))
        k = np.array(pool["kpts"][pick], np.float32)
        s, t = rng.uniform(0.7, 1.3), rng.uniform(-0.3, 0.3)
        c, sn = s * np.cos(t), s * np.sin(t)
        x, y = k[:, 0] - w / 2, k[:, 1] - h / 2
        k[:, 0] = c * x - sn * y + w / 2 + rng.normal(0, 1.0, len(k))
        k[:, 1] = sn * x + c * y + h / 2 + rng.normal(0, 1.0, len(k))
        k[:, 2] *= s
        k[:, 3] = (k[:, 3] + np.degrees(t)) % 360
        sig = np.array(pool["sigs"][pick])
        for _ in range(3):  # about three of 64 bits flipped (two draws may hit one bit)
            sig ^= np.left_shift(np.uint64(1), rng.integers(0, 64, len(sig)).astype(np.uint64))
        kp.append(k)
        wd.append(np.array(pool["words"][pick]))
        sg.append(sig)
    return np.concatenate(kp), np.concatenate(wd), np.concatenate(sg), int(a)


def _distractor_shard(job: tuple[str, str, int, int, int, int]) -> list[int]:
    """Worker: write one shard of re-sampled images; returns the pool image each is based on."""
    folder, pool_dir, count, seed, split_bits, n_words = job
    pool = {k: np.load(Path(pool_dir) / f"{k}.npy", mmap_mode="r") for k in POOL_ARRAYS}
    rng = np.random.default_rng(seed)
    images = [_resample(pool, rng) for _ in range(count)]
    words = np.concatenate([w for _, w, _, _ in images]).astype(np.int64)
    arrays = shard_arrays(
        [len(k) for k, _, _, _ in images], np.concatenate([k for k, _, _, _ in images]), words,
        np.concatenate([s for _, _, s, _ in images]), np.zeros((len(words), 0), np.uint8), split_bits, n_words,
        compact=True,
    )  # fmt: skip
    write_shard(Path(folder), arrays)
    return [src for _, _, _, src in images]


def build_scale(n: int, base: Index, pool_dir: Path, root: Path, runner: Runner) -> tuple[Index, dict]:
    """An index of the base images plus n - len(base) re-sampled ones; (index, build timings)."""
    cfg = base.cfg
    size = cfg.shortlist.shard_size
    claim(root)  # marks the folder as an index's before its shards are written (publish checks it)
    shards_dir = root / "shards"
    shards_dir.mkdir(parents=True, exist_ok=True)
    names = []
    for s in base.shards.shards:  # the base shards, linked (same bytes, no copy)
        names.append(s.folder.name)
        if not (shards_dir / s.folder.name).exists():
            tmp = shards_dir / f".{s.folder.name}.link"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            for f in s.folder.iterdir():
                os.link(f, tmp / f.name)
            tmp.rename(shards_dir / s.folder.name)
    extra = n - len(base)
    jobs, counts = [], []
    for k, a in enumerate(range(0, extra, size)):
        count = min(size, extra - a)
        name = shard_name("resampled-v1", base.quantizer.digest(), str(count), str(k), (pool_dir / "done").as_posix())
        names.append(name)
        counts.append(count)
        jobs.append((str(shards_dir / name), str(pool_dir), count, 1000 + k, cfg.shortlist.split_bits,
                     base.quantizer.size))  # fmt: skip
    t0 = time.perf_counter()
    sources = runner.map(_distractor_shard, jobs, "distractor shards", "shard")
    t_shards = time.perf_counter() - t0
    paths, sizes = np.load(pool_dir / "paths.npy"), np.load(pool_dir / "sizes.npy")
    records = list(base.images)
    for k, src in enumerate(sources):
        for j, p in enumerate(src):
            records.append({"path": str(paths[p]), "name": f"x{k:03d}-{j:05d}", "size": sizes[p].tolist(), "cache": ""})
    t0 = time.perf_counter()
    with writer_lock(root):
        index = Index.publish(root, cfg, records, base.quantizer, names)
    return index, {"shards_s": t_shards, "publish_s": time.perf_counter() - t0}


# ------------------------------------------------------------------ measuring
def exact_reference(index: Index) -> InvertedFile:
    """Exact tf-idf over uncompressed postings (float CSR), from every image's fine words."""
    fine = []
    for s in index.shards.shards:
        f = split_words(np.asarray(s.words, np.int64), np.asarray(s.sigs), index.shards.split_bits)
        fine += np.split(f, s.offsets[1:-1])
    return InvertedFile.build(fine, len(index.shards.idf), index.shards.split_bits)


def measure(index: Index, bench) -> dict:
    """Every base query through the whole search: latency, what was verified, pixel scores."""
    n_base = bench.n_database
    secs, found, wrong = [], 0, 0
    ranks = np.zeros((n_base, bench.n_queries), np.int64)
    pixels = {}
    for q in bench.queries:
        r = index.search_full(bench.query_image(q.index), q.box)
        secs.append(r.timings["total"])
        related = set(q.positives.tolist()) | set(q.junk.tolist())
        for h in r.hits:
            if h.verified and h.index < n_base and h.index in related:
                found += h.index in set(q.positives.tolist())
                pixels[(q.index, h.index)] = PixelPrediction([np.asarray(p) for p in h.polygons])
            elif h.verified:
                wrong += 1
        ranks[:, q.index] = r.ranking[r.ranking < n_base]  # re-sampled images dropped (none is verified)
    scores = subset_scores(bench, SimpleNamespace(ranks=ranks, pixels=pixels), list(range(bench.n_queries)))
    return {
        "p50_s": float(np.percentile(secs, 50)), "p95_s": float(np.percentile(secs, 95)),
        "positives_verified": found, "positives": sum(len(q.positives) for q in bench.queries),
        "unrelated_verified": wrong, **scores,
    }  # fmt: skip


def shortlist_recall(index: Index, bench, ref: InvertedFile) -> float:
    """Of the positives exact tf-idf puts in its top k, the share the sharded shortlist keeps."""
    top, kept, total = index.cfg.shortlist.top_k or auto_top_k(len(index)), 0, 0
    for q in bench.queries:
        img = load_image(bench.query_image(q.index))
        f = extract_in_box(img, q.box, index.cfg)
        qw, qs = index.query_words(f.select(f.in_box(q.box)).desc)
        fine = split_words(qw[:, 0], qs[:, 0], index.shards.split_bits)
        pos = set(q.positives.tolist())
        exact = set(np.argsort(-ref.scores(fine), kind="stable")[:top].tolist()) & pos
        short = set(np.argsort(-index.shards.scores(fine), kind="stable")[:top].tolist()) & pos
        kept += len(exact & short)
        total += len(exact)
    return kept / total if total else float("nan")


def rss_anon_mb() -> float:
    """Anonymous resident memory (the process's own RAM; mapped index files are page cache)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    return 0.0


def assign_rate(base: Index, work: Path) -> float:
    """Features per second one worker gives words and signatures (``build._assign`` on 256 base
    images, in this process: one core, as a worker)."""
    caches = [im["cache"] for im in base.images[:256]]
    qfile = save_quantizer(base.quantizer, work / "quantizer.npz")
    out = work / "words.npz"
    out.unlink(missing_ok=True)
    t = time.perf_counter()
    _assign((str(out), caches, str(qfile)))
    n = len(np.load(out)["words"])
    return n / (time.perf_counter() - t)


def build_estimate(n: int, feats: float, rate: float, shards_s: float, workers: int, on: int) -> float:
    """Hours to index n real photos on ``on`` workers: extraction and assignment at the measured
    per-worker rates, the shard writing as measured here (on ``workers``) scaled to ``on``."""
    return (n / (EXTRACT_PER_WORKER * on) + n * feats / (rate * on) + shards_s * workers / on) / 3600


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scales", type=int, nargs="+", default=[5_000, 10_000, 100_000, 1_000_000])
    ap.add_argument("--base-images", type=int, default=5000)
    ap.add_argument("--queries", type=int, default=24)
    ap.add_argument("--positives", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--exact-up-to", type=int, default=100_000, help="exact tf-idf reference up to this scale")
    ap.add_argument("--wider", type=int, nargs="*", default=[], help="also measure these shortlist lengths")
    ap.add_argument("--baseline-queries", type=int, default=2, help="sift-sp on this many queries of the base")
    ap.add_argument("--work", type=Path, default=Path("bench-work"))
    args = ap.parse_args()
    name = f"b{args.base_images}"
    bench = generated(args.work, name, args.queries, args.positives, args.base_images)
    cfg = get_config("fast-compact")
    cfg = replace(cfg, shortlist=replace(cfg.shortlist, vocab_size=8192))  # what a collection of 4k+ gets
    rows = {}
    with Runner(workers=args.workers) as runner:
        t0 = time.perf_counter()
        base = Index.build(database_paths(bench), cfg, args.work / f"scale-base-{name}", workers=args.workers,
                           features_dir=args.work / f"index-{name}" / "features")  # fmt: skip
        base_s = time.perf_counter() - t0
        feats_per_image = base.n_features / len(base)
        pool = make_pool(base, bench, args.work / f"scale-pool-{name}")
        print(f"base: {len(base)} images, {feats_per_image:.0f} features each, indexed in {base_s:.1f} s "
              f"(features cached); pool: {len(np.load(pool / 'sizes.npy'))} images")  # fmt: skip
        rate = assign_rate(base, args.work / f"scale-assign-{name}")
        print(f"word assignment + signatures: {rate:,.0f} features/s per worker")
        for n in args.scales:
            root = args.work / f"scale-{n}"
            index, build = build_scale(n, base, pool, root, runner)
            del index
            rss0 = rss_anon_mb()
            t0 = time.perf_counter()
            index = Index.open(root)  # checks index.json, the generation's files, each shard's small files
            build["open_s"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            index.shards.map(lambda sh: sh.check_postings(), index.shards.shards)  # what the first query checks
            build["postings_check_s"] = time.perf_counter() - t0
            m = measure(index, bench)
            rss1 = rss_anon_mb()
            index.cfg = replace(base.cfg, expansion=replace(base.cfg.expansion, enabled=False))
            m["without_expansion"] = measure(index, bench)
            index.cfg = base.cfg
            wider = {}
            auto = cfg.shortlist.top_k or auto_top_k(n)
            for k in [k for k in args.wider if k != auto]:  # the same index, another shortlist length
                index.cfg = with_top_k(index.cfg, k)
                wider[k] = measure(index, bench)
            index.cfg = base.cfg
            recall = shortlist_recall(index, bench, exact_reference(index)) if n <= args.exact_up_to else None
            row = {
                "images": n, **build,
                "disk_kb_per_image": index.disk_bytes() / n / 1024,
                "resident_b_per_image": index.memory_bytes() / n,
                "shortlist_kb_per_image": index.shortlist_bytes() / n / 1024,
                "ram_growth_mb": rss1 - rss0,  # anonymous RSS after opening and 24 queries
                **m, "shortlist_recall": recall, "top_k": auto, "wider": wider,
                "real_build_h": {w: build_estimate(n, feats_per_image, rate, build["shards_s"], args.workers, w)
                                 for w in (2, 8, 64)},
            }  # fmt: skip
            print(json.dumps(row), flush=True)
            rows[n] = row
        sp = None
        if args.baseline_queries:  # the exhaustive baseline at the base size, in this run
            from pixret.pipelines.benchmark import run_engine

            sp = run_engine(bench, get_config("sift-sp"), args.work / f"index-{name}-sp", progress=False,
                            queries=list(range(args.baseline_queries)),
                            features_dir=args.work / f"index-{name}" / "features")  # fmt: skip
    report(rows, None if sp is None else float(np.median(sp.query_seconds)))
    print(json.dumps({"bench_scale": rows}))


def report(rows: dict, sp50: float | None) -> None:
    """The table and the targets: at the largest scale, Hard pixel mAP and image mAP within 1
    point of the base (5k) and p50 <= 1 s, p95 <= 2 s; expansion on and off side by side."""
    print("\n   images   open s  postings check s  p50 s  p95 s  verified  unrelated  pixel mAP M/H   image mAP M/H"
          "   (without expansion: verified, pixel mAP H, image mAP H, p50)")
    for n, r in rows.items():
        w = r["without_expansion"]
        print(f"   {n:8d} {r['open_s']:7.2f} {r['postings_check_s']:17.2f} {r['p50_s']:6.3f} {r['p95_s']:6.3f} "
              f"{r['positives_verified']:9d} {r['unrelated_verified']:10d}  {100 * r['pixel_mAP_M']:5.1f} / "
              f"{100 * r['pixel_mAP_H']:4.1f}   {100 * r['image_mAP_M']:5.1f} / {100 * r['image_mAP_H']:4.1f}"
              f"   ({w['positives_verified']}, {100 * w['pixel_mAP_H']:.1f}, {100 * w['image_mAP_H']:.1f}, "
              f"{w['p50_s']:.3f})")  # fmt: skip
    if len(rows) < 2:
        return
    lo, hi = rows[min(rows)], rows[max(rows)]
    for key, label in (("pixel_mAP_H", "Hard pixel mAP"), ("image_mAP_H", "Hard image mAP")):
        gap = 100 * (lo[key] - hi[key])
        print(f"   target {label} at {max(rows):,} within 1 point of {min(rows):,}: {100 * hi[key]:.1f} vs "
              f"{100 * lo[key]:.1f} ({'met' if gap <= 1 else 'NOT met'}, {gap:+.1f})")
    print(f"   target p50 <= 1 s, p95 <= 2 s at {max(rows):,}: {hi['p50_s']:.3f} / {hi['p95_s']:.3f} s "
          f"({'met' if hi['p50_s'] <= 1 and hi['p95_s'] <= 2 else 'NOT met'}); {hi['p50_s'] / lo['p50_s']:.2f}x the "
          f"p50 at {min(rows):,}" + (f"; sift-sp at {min(rows):,}: p50 {sp50:.1f} s" if sp50 else ""))


if __name__ == "__main__":
    main()
