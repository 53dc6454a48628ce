"""Writers of small benchmarks in the release layout, for tests."""

from __future__ import annotations

import contextlib
import os
import pickle
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from pixret.datasets import dataset_spec, write_labelme
from pixret.datasets.generate.synthetic import SyntheticConfig
from pixret.evaluation import write_pixel_results, write_ranks
from pixret.evaluation.perturbed import perturbed_results
from tests.reference.serving import serve_app  # noqa: F401 - the tests import it from here

RELEASE = "pixel_retrieval_benchmarks"

MINI_CFG = SyntheticConfig(name="mini", queries=3, positives=5, distractors=6, seed=3)  # the "mini" fixture


def write_release(
    root: Path,
    name: str,
    queries: list[dict],
    n_db: int,
    labels: dict[tuple[int, int], list],
    size: tuple[int, int] = (200, 150),
    images: bool = False,
    r1m: list[str] | None = None,
) -> Path:
    """Write gnd pkl, pair2labelpath, labelme files (and optionally images) under root/RELEASE.

    ``queries``: dicts with easy/hard/junk lists (and optional bbx); ``labels``: (q, i) ->
    list of (x, y) polygons; ``size``: (w, h) of every image.
    """
    spec = dataset_spec(name)
    base = root / RELEASE
    data = base / "revisitop" / "data" / spec.gnd
    data.mkdir(parents=True, exist_ok=True)
    imlist = [f"db_{i:04d}" for i in range(n_db)]
    qimlist = [f"query_{q:03d}" for q in range(len(queries))]
    gnd = [
        {
            "bbx": q.get("bbx", [10.0, 10.0, 60.0, 60.0]),
            "easy": list(q.get("easy", [])),
            "hard": list(q.get("hard", [])),
            "junk": list(q.get("junk", [])),
        }
        for q in queries
    ]
    with open(data / f"gnd_{spec.gnd}.pkl", "wb") as fh:
        pickle.dump({"qimlist": qimlist, "imlist": imlist, "gnd": gnd}, fh)
    pairs = {}
    w, h = size
    for (q, i), polys in labels.items():
        rel = f"labels/{spec.prefix}/{q}_{i}.json"
        write_labelme(base / rel, [np.asarray(p, float) for p in polys], w, h)
        pairs[f"{q}_{i}"] = rel
    np.save(base / f"{spec.prefix}_pair2labelpath.npy", pairs, allow_pickle=True)
    if images:
        jpg = data / "jpg"
        jpg.mkdir(exist_ok=True)
        rng = np.random.default_rng(0)
        for n in imlist + qimlist:
            cv2.imwrite(str(jpg / f"{n}.jpg"), rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
    if r1m is not None:
        (base / "revisitop" / "data" / "revisitop1m.txt").write_text("\n".join(r1m) + "\n")
    return base


def square(x: float, y: float, s: float) -> list[list[float]]:
    return [[x, y], [x + s, y], [x + s, y + s], [x, y + s]]


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# browser tests skip where Chromium is missing, except under CI (PIXRET_TEST_BROWSER=1): there a
# missing browser must fail, not pass unseen
needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not os.environ.get("PIXRET_TEST_BROWSER"),
    reason="Chromium not installed (apt-get install chromium)",
)


ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


def desktop_page(p, width: int, height: int):
    """Chromium and a page; bypass_csp only lets the tests poll with wait_for_function (the CSP
    forbids the eval it uses), the page's own scripts run as they would anyway."""
    browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    return browser, browser.new_page(viewport={"width": width, "height": height}, bypass_csp=True)


RELEASE_FILES = {  # a few files of the release, as a test download server serves them
    "pixel_retrieval_benchmarks/oxford_pair2labelpath.npy": b"x" * 5000,
    "pixel_retrieval_benchmarks/queries/oxford/0.json": b'{"shapes": []}',
}


def same_features(a, b) -> bool:
    """Whether two indexes hold the same images with the same keypoints, words and descriptors."""
    return len(a) == len(b) and all(
        all(np.array_equal(x, y) for x, y in zip(a.features(i), b.features(i), strict=True)) for i in range(len(a))
    )


INDEX_FILES = ("quantizer.npz", "idf.npy", "norms.npy", "shards.json")  # a generation's data files


def assert_same_index(a, b) -> None:
    """The same bytes in every data file of two indexes and in every shard file (the catalogs
    differ only in where features are cached), and the same images in the same order."""
    for name in INDEX_FILES:
        assert (a.data / name).read_bytes() == (b.data / name).read_bytes(), name
    for sa, sb in zip(a.shards.shards, b.shards.shards, strict=True):
        assert sa.folder.name == sb.folder.name
        for f in sorted(sa.folder.iterdir()):
            assert f.read_bytes() == (sb.folder / f.name).read_bytes(), f.name
    assert [im["name"] for im in a.images] == [im["name"] for im in b.images]


SQ = square(20, 20, 40)  # the 40 px square most hand-made labels are


# method -> (shift, drop, swap, seed): ordered best to worst; "twin" is "good" with other luck
METHODS = {
    "good": (0.0, 0.1, 0.0, 1),
    "twin": (0.0, 0.1, 0.0, 2),
    "fair": (0.15, 0.1, 0.3, 3),
    "poor": (0.45, 0.1, 0.6, 4),
}


def blob(rng, w, h):
    cx, cy, r = rng.uniform(60, w - 60), rng.uniform(50, h - 50), rng.uniform(20, 45)
    a = np.sort(rng.uniform(0, 2 * np.pi, 10))
    return np.stack(
        [cx + r * rng.uniform(0.7, 1, 10) * np.cos(a), cy + r * rng.uniform(0.7, 1, 10) * np.sin(a)], 1
    )


def write_method(results, bench, name, shift, drop, swap, seed, dataset="proxford"):
    ranks, pixels = perturbed_results(bench, shift, drop, swap, seed)
    stem = {"proxford": ("roxford", "proxford"), "prparis": ("rparis", "prparis")}[dataset]
    write_ranks(results / "image-level" / name / f"{stem[0]}.npy", ranks)
    write_pixel_results(results / "pixel-level" / name / "matching_result" / f"{stem[1]}.npy", pixels)


def exif_jpeg(path: Path, upright: np.ndarray, orientation: int = 6, quality: int = 95) -> Path:
    """Write ``upright`` (BGR) as a phone would: pixels stored turned, with the EXIF Orientation
    tag that turns them upright again (6: stored 90 degrees counter-clockwise, shown clockwise)."""
    from PIL import Image

    stored = {6: cv2.ROTATE_90_COUNTERCLOCKWISE, 8: cv2.ROTATE_90_CLOCKWISE, 3: cv2.ROTATE_180}
    raw = cv2.rotate(upright, stored[orientation]) if orientation in stored else upright
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(cv2.cvtColor(raw, cv2.COLOR_BGR2RGB)).save(path, "JPEG", quality=quality, exif=exif.tobytes())
    return path


def post_search(client, bench, q=0, **files):
    """POST /api/search with query ``q``'s box (top 10): its image, or the upload ``files``."""
    query = bench.queries[q]
    data = {"box": ",".join(f"{v:.1f}" for v in query.box), "top": "10"}
    if not files:
        files = {"file": ("q.jpg", bench.query_image(q).read_bytes(), "image/jpeg")}
    return client.post("/api/search", data=data, files=files)


def run_cli(args, cwd=None) -> subprocess.CompletedProcess:
    """``pixret ARGS`` as a user runs it, in this process: through ``pixret.cli.main`` (errors as
    one line and exit status 2, warnings as "warning:" lines), with its stdout and stderr
    captured, from folder ``cwd``. What a subprocess gives, without starting Python again
    (half a second a call); an exception main() does not turn into a line propagates."""
    import io
    import sys
    import warnings

    from pixret.cli import main

    out, err = io.StringIO(), io.StringIO()
    argv, code = sys.argv, 0
    sys.argv = ["pixret", *(str(a) for a in args)]
    try:
        with contextlib.chdir(cwd or os.getcwd()), contextlib.redirect_stdout(out), \
                contextlib.redirect_stderr(err), warnings.catch_warnings():  # fmt: skip
            warnings.simplefilter("default")
            try:
                main()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    finally:
        sys.argv = argv
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())
