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

Each scale is searched in a fresh process of its own (``--measure``), after every build, with
no mapping of its files left in this one:
- cold: every file of the index is dropped from the page cache (written back, then
  posix_fadvise DONTNEED), checked with mincore; the index is opened and the base queries run
  once (the first one also checks the inverted files, as a user's first query does);
- warm: the same queries again, in the same process;
- then, warm: without query expansion, other shortlist lengths (``--wider``), the shortlist's
  recall against exact tf-idf (up to ``--exact-up-to``), and what the page cache holds of the
  index after both passes (the memory that keeps these queries warm);
- warm-up (``--warmup``, another fresh process on a cold cache): ``Index.warm``, what
  ``pixret serve`` does at start, timed.

Per scale it prints: build time (distractor shards + publish, measured; extraction and word
assignment of real photos extrapolated from the measured per-worker rates), disk and RAM per
image, query p50/p95 cold and warm (the whole search: features, shortlist, verification,
expansion, masks) with each stage's mean, positives verified and unrelated images verified,
pixel and image mAP over the base images, and a JSON line.

    python benchmarks/bench_scale.py --work bench-work --scales 5000 1000000
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import shutil
import subprocess
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
from pixret.engine.build import _assign, cache_file, save_quantizer, shard_arrays  # noqa: E402
from pixret.engine.config import with_top_k  # noqa: E402
from pixret.engine.distributed import Runner  # noqa: E402
from pixret.engine.features import extract_in_box  # noqa: E402
from pixret.engine.index import writer_lock  # noqa: E402
from pixret.engine.pagecache import evict, resident  # noqa: E402
from pixret.engine.shards import shard_name, write_shard  # noqa: E402
from pixret.engine.shortlist import auto_top_k  # noqa: E402
from pixret.engine.store import claim  # noqa: E402
from pixret.engine.vocabulary import split_words  # noqa: E402
from pixret.escape import one_line_warnings  # noqa: E402
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
    """Every base query through the whole search: latency (and each stage's mean), reads that
    came from the disk (bytes this process read from the block device, /proc/self/io
    read_bytes: madvise(WILLNEED) and read() cause no major page fault, so faults showed 0 on a
    cold pass), what was verified, pixel and image scores."""
    n_base = bench.n_database
    secs, found, wrong, verified = [], 0, 0, []
    ranks = np.zeros((n_base, bench.n_queries), np.int64)
    pixels = {}
    stage: dict[str, float] = {}
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_majflt
    disk = disk_read_bytes()
    for q in bench.queries:
        r = index.search_full(bench.query_image(q.index), q.box)
        secs.append(r.timings["total"])
        for k, v in r.timings.items():
            stage[k] = stage.get(k, 0.0) + v / bench.n_queries
        related = set(q.positives.tolist()) | set(q.junk.tolist())
        verified.append(sorted((h.index, h.inliers) for h in r.hits if h.verified))
        for h in r.hits:
            if h.verified and h.index < n_base and h.index in related:
                found += h.index in set(q.positives.tolist())
                pixels[(q.index, h.index)] = PixelPrediction([np.asarray(p) for p in h.polygons])
            elif h.verified:
                wrong += 1
        ranks[:, q.index] = r.ranking[r.ranking < n_base]  # re-sampled images dropped (none is verified)
    scores = subset_scores(bench, SimpleNamespace(ranks=ranks, pixels=pixels), list(range(bench.n_queries)))
    return {
        "p50_s": float(np.percentile(secs, 50)), "p95_s": float(np.percentile(secs, 95)), "first_s": secs[0],
        "seconds": secs, "stages_s": {k: v for k, v in stage.items() if k != "total"},
        "major_faults_per_query": (resource.getrusage(resource.RUSAGE_SELF).ru_majflt - faults) / len(secs),
        "disk_mb_per_query": (disk_read_bytes() - disk) / 1e6 / len(secs),
        "positives_verified": found, "positives": sum(len(q.positives) for q in bench.queries),
        "unrelated_verified": wrong, "verified": verified, **scores,
    }  # fmt: skip


def disk_read_bytes() -> int:
    """Bytes this process has read from storage (/proc/self/io's read_bytes: the page cache's
    misses, whichever way they were asked for); 0 where there is no /proc."""
    try:
        for line in Path("/proc/self/io").read_text().splitlines():
            if line.startswith("read_bytes:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


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


def measure_scale(root: Path, bench, cfg, args) -> dict:
    """``--measure ROOT`` (a fresh process): cold pass, warm pass, then the warm extras (module
    docstring); one JSON row."""
    files = index_files(root)
    dropped = evict(files)
    left, size = resident(files)
    print(f"{root.name}: {size / 1e9:.2f} GB of index files, {left / 1e6:.1f} MB left in the page cache after "
          "dropping them", file=sys.stderr, flush=True)  # fmt: skip
    rss0 = rss_anon_mb()
    t0 = time.perf_counter()
    index = Index.open(root)  # checks index.json, the generation's files, each shard's small files
    row: dict = {"images": len(index), "evicted_bytes": dropped, "left_after_evicting_bytes": left,
                 "open_cold_s": time.perf_counter() - t0}  # fmt: skip
    row["cold"] = measure(index, bench)  # the first query also checks the inverted files
    row["warm"] = measure(index, bench)
    row["ram_growth_mb"] = rss_anon_mb() - rss0  # anonymous RSS after opening and 48 queries
    row["same_results_cold_and_warm"] = row["cold"]["verified"] == row["warm"]["verified"]
    row["page_cache_after_bytes"] = resident(files)[0]  # what keeps these queries warm
    t0 = time.perf_counter()
    for sh in index.shards.shards:  # the inverted files' check again, on a warm cache
        sh._postings_checked = False
    index.shards.map(lambda sh: sh.check_postings(), index.shards.shards)
    row["postings_check_warm_s"] = time.perf_counter() - t0
    index.cfg = replace(cfg, expansion=replace(cfg.expansion, enabled=False))
    row["without_expansion"] = measure(index, bench)
    index.cfg = cfg
    wider = {}
    auto = cfg.shortlist.top_k or auto_top_k(len(index))
    for k in [k for k in args.wider if k != auto]:  # the same index, another shortlist length
        index.cfg = with_top_k(cfg, k)
        wider[k] = measure(index, bench)
    index.cfg = cfg
    row["wider"], row["top_k"] = wider, auto
    row["shortlist_recall"] = (shortlist_recall(index, bench, exact_reference(index))
                               if len(index) <= args.exact_up_to else None)  # fmt: skip
    row.update({
        "disk_kb_per_image": index.disk_bytes() / len(index) / 1024,
        "resident_b_per_image": index.memory_bytes() / len(index),
        "shortlist_kb_per_image": index.shortlist_bytes() / len(index) / 1024,
    })  # fmt: skip
    for m in (row["cold"], row["warm"], row["without_expansion"], *wider.values()):
        m.pop("verified")  # compared above; too long for the row
    return row


def warmup_scale(root: Path) -> dict:
    """``--warmup ROOT`` (a fresh process): ``Index.warm`` from a cold page cache, timed."""
    files = index_files(root)
    evict(files)
    index = Index.open(root)
    t0 = time.perf_counter()
    marks: dict[str, float] = {}
    out = index.warm(lambda stage, done, total: marks.__setitem__(stage, time.perf_counter() - t0))
    return {"postings_s": marks.get("postings"), "total_s": out["seconds"], "postings_bytes": out["postings"],
            "features_bytes": out["features"], "skipped": out["skipped"],
            "page_cache_after_bytes": resident(files)[0]}  # fmt: skip


def index_files(root: Path) -> list[Path]:
    """Every file of the index folder (the generation, the shards, index.json)."""
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def say(line: str) -> None:
    """A stage's start, on stderr (the results go to stdout): a run whose output is not a
    terminal shows no progress bars, and its stages take minutes."""
    print(f"[{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)


def child(mode: str, root: Path, args) -> dict:
    """Run this script with ``--measure`` or ``--warmup`` ROOT in a new process; its JSON row."""
    argv = [sys.executable, __file__, f"--{mode}", str(root), "--work", str(args.work), "--base-images",
            str(args.base_images), "--queries", str(args.queries), "--positives", str(args.positives),
            "--exact-up-to", str(args.exact_up_to), "--wider", *map(str, args.wider)]  # fmt: skip
    out = subprocess.run(argv, stdout=subprocess.PIPE, check=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    one_line_warnings()
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
    ap.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # a child process: one scale's passes
    ap.add_argument("--warmup", type=Path, help=argparse.SUPPRESS)  # a child process: Index.warm timed
    args = ap.parse_args()
    name = f"b{args.base_images}"
    if not (args.measure or args.warmup):
        say(f"the base benchmark: {args.base_images:,} generated images in {args.work} (made once, then read)")
    bench = generated(args.work, name, args.queries, args.positives, args.base_images)
    cfg = get_config("fast-compact")
    cfg = replace(cfg, shortlist=replace(cfg.shortlist, vocab_size=8192))  # what a collection of 4k+ gets
    if args.measure or args.warmup:
        row = measure_scale(args.measure, bench, cfg, args) if args.measure else warmup_scale(args.warmup)
        print(json.dumps(row), flush=True)
        return
    rows = {}
    with Runner(workers=args.workers) as runner:
        t0 = time.perf_counter()
        feats_dir = args.work / f"index-{name}" / "features"
        # extracted by an earlier run under the same cache key (the same settings and extractor)
        paths = database_paths(bench)
        keyed = [cache_file(Path(p), feats_dir.resolve(), cfg) for p in paths]
        cached = all(f is not None and f.exists() for f in keyed)
        say(f"the base index: {'reading' if cached else 'extracting'} the features of {bench.n_database:,} images, "
            f"vocabulary, words (5,000 images: ~15 minutes on 2 cores the first time; progress bars on a terminal)")
        base = Index.build(paths, cfg, args.work / f"scale-base-{name}", workers=args.workers,
                           features_dir=feats_dir)  # fmt: skip
        base_s = time.perf_counter() - t0
        feats_per_image = base.n_features / len(base)
        pool = make_pool(base, bench, args.work / f"scale-pool-{name}")
        print(f"base: {len(base)} images, {feats_per_image:.0f} features each, indexed in {base_s:.1f} s "
              f"({'features cached' if cached else 'features extracted'}); "
              f"pool: {len(np.load(pool / 'sizes.npy'))} images")  # fmt: skip
        rate = assign_rate(base, args.work / f"scale-assign-{name}")
        print(f"word assignment + signatures: {rate:,.0f} features/s per worker")
        builds = {}
        for n in args.scales:
            say(f"{n:,} images: writing the re-sampled images' shards and publishing")
            index, builds[n] = build_scale(n, base, pool, args.work / f"scale-{n}", runner)
            del index
            print(f"{n:,} images: shards {builds[n]['shards_s']:.1f} s, publish {builds[n]['publish_s']:.1f} s",
                  flush=True)  # fmt: skip
    del base  # its shard is linked into every scale: no mapping of an index file may stay in this process
    gc.collect()
    for n in args.scales:  # each searched in a fresh process, on a page cache emptied of its files
        root = args.work / f"scale-{n}"
        say(f"{n:,} images: searching in a fresh process, cold then warm")
        row = {**builds[n], **child("measure", root, args)}
        say(f"{n:,} images: Index.warm from cold, in a fresh process")
        row["warm_up"] = child("warmup", root, args)
        row["real_build_h"] = {w: build_estimate(n, feats_per_image, rate, row["shards_s"], args.workers, w)
                               for w in (2, 8, 64)}  # fmt: skip
        print(json.dumps(row), flush=True)
        rows[n] = row
    sp = None
    if args.baseline_queries:  # the exhaustive baseline at the base size, in this run
        say(f"sift-sp on {args.baseline_queries} queries of the base (about a minute each)")
        from pixret.pipelines.benchmark import run_engine

        sp = run_engine(bench, get_config("sift-sp"), args.work / f"index-{name}-sp", progress=False,
                        queries=list(range(args.baseline_queries)),
                        features_dir=feats_dir)  # fmt: skip
    report(rows, None if sp is None else float(np.median(sp.query_seconds)))
    print(json.dumps({"bench_scale": rows}))


TARGETS = {"cold": (1.5, 3.0), "warm": (0.7, 1.5)}  # p50, p95 seconds at a million (issue 33)


def report(rows: dict, sp50: float | None) -> None:
    """The table and the targets: at the largest scale, Hard pixel mAP and image mAP within 1
    point of the base (5k), no unrelated image verified, cold p50 <= 1.5 s and p95 <= 3 s, warm
    p50 <= 0.7 s and p95 <= 1.5 s; expansion on and off side by side."""
    print("\n   images  pass           open s   p50 s  p95 s  first s  disk MB/q  verified  unrelated  pixel mAP M/H"
          "   image mAP M/H   stages (mean s)")  # fmt: skip
    for n, r in rows.items():
        for part in ("cold", "warm", "without_expansion"):
            m = r[part]
            label = {"cold": "cold", "warm": "warm", "without_expansion": "warm, no exp."}[part]
            opened = f"{r['open_cold_s']:6.2f}" if part == "cold" else "      "
            stage = ", ".join(f"{k} {v:.3f}" for k, v in m["stages_s"].items() if v >= 0.005)
            print(f"   {n:8d}  {label:13s} {opened} {m['p50_s']:7.3f} {m['p95_s']:6.3f} {m['first_s']:8.2f} "
                  f"{m['disk_mb_per_query']:10.1f} {m['positives_verified']:9d} {m['unrelated_verified']:10d}  "
                  f"{100 * m['pixel_mAP_M']:5.1f} / {100 * m['pixel_mAP_H']:4.1f}   {100 * m['image_mAP_M']:5.1f} / "
                  f"{100 * m['image_mAP_H']:4.1f}   {stage}")  # fmt: skip
        w = r["warm_up"]
        print(f"   {n:8d}  index {r['disk_kb_per_image'] * n * 1024 / 1e9:.2f} GB on disk, "
              f"{r['left_after_evicting_bytes'] / 1e6:.1f} MB of it in the page cache when the cold pass "
              f"began; page cache after both "
              f"passes {r['page_cache_after_bytes'] / 1e9:.2f} GB; process RAM {r['resident_b_per_image']:.0f} B per "
              f"image (+{r['ram_growth_mb']:.0f} MB after the passes); Index.warm from cold: postings "
              f"{w['postings_bytes'] / 1e9:.2f} GB in {w['postings_s'] or 0:.1f} s, all {w['total_s']:.1f} s"
              + (f" ({w['skipped']})" if w["skipped"] else "") + ("" if r["same_results_cold_and_warm"] else
              "; RESULTS DIFFER between the cold and the warm pass"))  # fmt: skip
    if len(rows) < 2:
        return
    lo, hi = rows[min(rows)], rows[max(rows)]
    for key, label in (("pixel_mAP_H", "Hard pixel mAP"), ("image_mAP_H", "Hard image mAP")):
        gap = 100 * (lo["cold"][key] - hi["cold"][key])
        print(f"   target {label} at {max(rows):,} within 1 point of {min(rows):,}: {100 * hi['cold'][key]:.1f} vs "
              f"{100 * lo['cold'][key]:.1f} ({'met' if gap <= 1 else 'NOT met'}, {gap:+.1f})")  # fmt: skip
    bad = hi["cold"]["unrelated_verified"] + hi["warm"]["unrelated_verified"]
    print(f"   target no unrelated image verified at {max(rows):,}: {bad} ({'met' if not bad else 'NOT met'})")
    for part, (p50, p95) in TARGETS.items():
        m = hi[part]
        ok = m["p50_s"] <= p50 and m["p95_s"] <= p95
        print(f"   target {part} p50 <= {p50} s, p95 <= {p95} s at {max(rows):,}: {m['p50_s']:.3f} / {m['p95_s']:.3f} s "
              f"({'met' if ok else 'NOT met'}); {m['p50_s'] / lo[part]['p50_s']:.2f}x the {part} p50 at "
              f"{min(rows):,}")  # fmt: skip
    if sp50:
        print(f"   sift-sp at {min(rows):,}: p50 {sp50:.1f} s")


if __name__ == "__main__":
    main()
