"""Simulated participants take a study through the real page in Chromium, then the report.

Each simulated person answers with a probability of being right that depends on the condition
and waits a response time drawn for the condition before answering, so the browser measures
real times. It shows the whole loop (create, serve, take, report) without people, and what a
report looks like when the conditions do differ.

    python scripts/simulate_study.py --root pixret-demo/data --dataset demo --out study-sim \
        [--participants 6] [--pairs 12] [--speed 0.1] [--phone]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pixret.datasets import load_benchmark  # noqa: E402
from pixret.server import create_app  # noqa: E402
from pixret.study.report import sentence, write_report  # noqa: E402
from pixret.study.service import Study, create_study  # noqa: E402
from tests.helpers import serve_app  # noqa: E402
from tests.reference.study_participant import ScriptedParticipant  # noqa: E402

# how the simulated people behave: chance of a right answer, median seconds to answer
BEHAVIOUR = {"image": (0.75, 4.0), "box": (0.85, 3.0), "mask": (0.93, 2.2)}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, required=True)
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--out", type=Path, default=Path("study-sim"))
    ap.add_argument("--participants", type=int, default=6)
    ap.add_argument("--pairs", type=int, default=12)
    ap.add_argument("--speed", type=float, default=0.1, help="scale of the simulated waits (1 = real time)")
    ap.add_argument("--phone", action="store_true", help="take part on a 390x844 touch screen, tapping")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "study.db"
    path.unlink(missing_ok=True)
    create_study(path, args.root, args.dataset, pairs=args.pairs, seed=1, label="oracle (simulated people)")
    bench = load_benchmark(args.root, args.dataset)
    with serve_app(create_app(None, study=path)) as url:
        rng = np.random.default_rng(7)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=ARGS)
            for k in range(args.participants):
                # bypass_csp: the scripted participant polls with wait_for_function (the CSP forbids eval)
                device = PHONE if args.phone else {"viewport": {"width": 1280, "height": 800}}
                page = browser.new_context(bypass_csp=True, **device).new_page()
                person = ScriptedParticipant(page, path, bench, touch=args.phone)
                person.start(url + "/study")
                while not person.done:
                    _, cond, _, _, _ = person.trial()
                    p_right, t_med = BEHAVIOUR[cond]
                    time.sleep(args.speed * float(rng.lognormal(np.log(t_med), 0.35)))
                    person.answer(right=bool(rng.random() < p_right))
                print(f"participant {k + 1}/{args.participants} done", file=sys.stderr, flush=True)  # progress
                page.context.close()
            browser.close()
    s = Study(path)
    res = write_report(s.rows(), s.meta, args.out / "report.html", args.out / "answers.csv")
    for (a, b), d in res["differences"].items():  # the results on stdout, as `pixret study report` prints them
        print(sentence(a, b, d))
    print(f"wrote {args.out / 'report.html'}", file=sys.stderr)


if __name__ == "__main__":
    main()
