"""Simulated participants take a study, then the report: through the real page in Chromium
where Playwright, Chromium and the server extra are installed, else (or with ``--direct``)
through the study's service (``pixret.study.service.Study``: the calls the page's requests
reach), so that it runs on the quick start's install alone.

Each simulated person answers with a probability of being right that depends on the condition
and takes a response time drawn for the condition: in the browser they wait it before answering,
so the page measures real times; through the service the drawn time is the one recorded. It
shows the whole loop (create, take, report) without people, and what a report looks like when
the conditions do differ.

    python scripts/simulate_study.py --root pixret-demo/data --dataset demo --out study-sim \
        [--participants 6] [--pairs 12] [--speed 0.1] [--phone] [--direct]

The browser needs ``pip install -e '.[server]' playwright`` and Chromium (``apt-get install
chromium``, or ``python -m playwright install chromium`` and ``--chromium`` its path).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pixret.datasets import load_benchmark  # noqa: E402
from pixret.imageio import image_size  # noqa: E402
from pixret.study.report import sentence, write_report  # noqa: E402
from pixret.study.service import Study, create_study  # noqa: E402
from tests.reference.study_participant import inside_point  # noqa: E402 - the repository's, no pytest

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
    ap.add_argument("--direct", action="store_true", help="answer through the study's service, not the page")
    args = ap.parse_args()
    missing = [what for what, there in (("playwright", _installed("playwright")),
                                        ("the server extra", _installed("uvicorn") and _installed("fastapi")),
                                        (args.chromium, Path(args.chromium).exists())) if not there]  # fmt: skip
    if missing and not args.direct:
        print(f"note: no {', no '.join(missing)}: the simulated people answer through the study's service, "
              "not the page in Chromium (see --help)", file=sys.stderr, flush=True)  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "study.db"
    path.unlink(missing_ok=True)
    create_study(path, args.root, args.dataset, pairs=args.pairs, seed=1, label="oracle (simulated people)")
    bench = load_benchmark(args.root, args.dataset)
    rng = np.random.default_rng(7)
    (_direct if missing or args.direct else _in_browser)(args, path, bench, rng)
    s = Study(path)
    res = write_report(s.rows(), s.meta, args.out / "report.html", args.out / "answers.csv")
    for (a, b), d in res["differences"].items():  # the results on stdout, as `pixret study report` prints them
        print(sentence(a, b, d))
    print(f"wrote {args.out / 'report.html'}", file=sys.stderr)


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ValueError:  # in sys.modules without a spec
        return False


def _direct(args, path: Path, bench, rng) -> None:
    """Each person answers through ``Study`` (what the page's requests call), the response time
    drawn for the condition recorded as theirs; a yes clicks deep inside the object, or in a
    corner when wrong (as the browser's scripted participant does)."""
    study = Study(path)
    truth = study.db
    for k in range(args.participants):
        pid = study.new_participant()
        while not (trial := study.next_trial(pid))["done"]:
            pos, cond = trial["position"], trial["condition"]
            kind, gt, image = truth.execute(
                "SELECT t.kind, t.gt, t.image FROM assignments a JOIN trials t ON t.id = a.trial "
                "WHERE a.participant = ? AND a.position = ?", (pid, pos),
            ).fetchone()  # fmt: skip
            p_right, t_med = BEHAVIOUR[cond]
            rt_ms = 1000 * float(rng.lognormal(np.log(t_med), 0.35))
            right, positive = bool(rng.random() < p_right), kind != "negative"
            click = None
            if positive == right:  # yes: on the object when right, in a corner when wrong
                w, h = image_size(bench.database_image(image))
                click = list(inside_point(json.loads(gt), w, h)) if positive else [3.0, 3.0]
            study.record(pid, pos, int(click is not None), click, rt_ms, viewport=[1280, 800], pointer="mouse")
        print(f"participant {k + 1}/{args.participants} done", file=sys.stderr, flush=True)  # progress
    study.close()


def _in_browser(args, path: Path, bench, rng) -> None:
    from playwright.sync_api import sync_playwright

    from pixret.server import create_app
    from tests.reference.serving import serve_app
    from tests.reference.study_participant import ScriptedParticipant

    with serve_app(create_app(None, study=path)) as url, sync_playwright() as p:
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


if __name__ == "__main__":
    main()
