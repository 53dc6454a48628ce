"""Decoding a PNG: pixret.imageio's reader against OpenCV's ``imdecode`` alone (issue 32, I3).

pixret decodes PNGs with Pillow (OpenCV's libpng prints ``libpng error: ...`` lines on stderr
that pixret cannot stop) and checks its header first (size, plausibility, EXIF orientation
without decoding). This measures what that costs against the baseline, in the same process,
the two taken in turn so that a change in the machine's load reaches both alike:

  * ``cv2.imdecode``: OpenCV alone (IMREAD_COLOR, orientation ignored), what pixret did before;
  * ``decode_image``: pixret's reader (header check, Pillow's decode, BGR);
  * ``decode_image`` on a PNG whose last row is black (the rows are counted again: the
    truncation check's slow path) and at ``reduce=4``;
  * ``image_size``: the header alone (it decoded a PNG in full before: Pillow's ``getexif``).

Prints each one's median time and its ratio to ``cv2.imdecode``.

    python benchmarks/bench_decode.py [--side 1024] [--runs 40]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import skimage.data

from pixret.imageio import decode_image, image_size


def photo_png(side: int, black_last_row: bool = False) -> bytes:
    img = cv2.resize(cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR), (side, side),
                     interpolation=cv2.INTER_CUBIC)  # fmt: skip
    if black_last_row:
        img[-1] = 0
    return cv2.imencode(".png", img)[1].tobytes()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--side", type=int, default=1024, help="the PNG's width and height (px)")
    ap.add_argument("--runs", type=int, default=40)
    args = ap.parse_args()
    data, black = photo_png(args.side), photo_png(args.side, black_last_row=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "photo.png"
        path.write_bytes(data)
        cases = {
            "cv2.imdecode (baseline)": lambda: cv2.imdecode(np.frombuffer(data, np.uint8),
                                                            cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION),
            "decode_image": lambda: decode_image(data, "photo.png"),
            "decode_image, black last row": lambda: decode_image(black, "black.png"),
            "decode_image, reduce=4": lambda: decode_image(data, "photo.png", reduce=4),
            "image_size (header only)": lambda: image_size(path),
        }  # fmt: skip
        assert (cases["decode_image"]() == cases["cv2.imdecode (baseline)"]()).all()  # the same pixels
        times: dict[str, list[float]] = {k: [] for k in cases}
        for _ in range(args.runs):  # in turn: the machine's load reaches every case alike
            for name, fn in cases.items():
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
    base = statistics.median(times["cv2.imdecode (baseline)"])
    print(f"PNG {args.side}x{args.side} photo, {len(data) / 1e6:.2f} MB, {args.runs} runs each (median):")
    for name, ts in times.items():
        t = statistics.median(ts)
        print(f"  {name:32s} {t * 1000:8.2f} ms   x{t / base:.2f}")


if __name__ == "__main__":
    main()
