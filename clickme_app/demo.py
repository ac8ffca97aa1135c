"""``clickme demo``: the whole pipeline on the embedded data set, ending in one HTML report.

Stages run in order, each reading its predecessors' folders under ``root`` and writing its own
(docs/outputs.md): ClickMe maps -> stimuli -> experiment -> models -> alignment -> ClickMe game -> report.
"""

from __future__ import annotations

import importlib
import multiprocessing
import time
from pathlib import Path

from clickme_analysis import cliargs

#: (stage name, module with ``run_demo(root, seed, progress)``)
STAGES = (
    ("clickme", "clickme_analysis.demo"),
    ("stimuli", "stimuli.demo"),
    ("experiment", "experiments.demo"),
    ("models", "models.demo"),
    ("alignment", "models.alignment"),
    ("game", "experiments.game.demo"),
)


def run(root, seed: int = 0, progress: bool = True) -> Path:
    """Run every stage and build the report; returns the path of ``report.html``.

    Each stage runs in a fresh process, as a user runs one command after another: libraries one
    stage loads cannot disturb the next. (Under Xvfb, Mesa's software OpenGL, which the
    experiment's PsychoPy window loads, carries an LLVM whose symbols crash the one that torch's
    compiler stack (triton) loads later in the same process.) ``progress`` shows progress bars
    (on a terminal only: :mod:`clickme_analysis.progress`); one line per stage (the report too)
    says what runs and how long it took, with or without them.
    """

    from reports.report import build_report

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    context = multiprocessing.get_context("spawn")
    total = len(STAGES) + 1
    for number, (name, module) in enumerate(STAGES, 1):
        start = time.perf_counter()
        print(f"[demo] {number}/{total} {name} ...", flush=True)
        stage = context.Process(target=_run_stage, args=(module, str(root), seed, progress), name=name)
        stage.start()
        stage.join()
        if stage.exitcode != 0:
            raise RuntimeError(f"demo stage {name!r} ({module}) failed with exit code {stage.exitcode}")
        print(f"[demo] {number}/{total} {name} done in {time.perf_counter() - start:.1f} s", flush=True)
    start = time.perf_counter()
    print(f"[demo] {total}/{total} report ...", flush=True)
    report = build_report(root, root / "report", progress=progress)
    print(f"[demo] {total}/{total} report done in {time.perf_counter() - start:.1f} s", flush=True)
    return report


def _run_stage(module: str, root: str, seed: int, progress: bool) -> None:
    importlib.import_module(module).run_demo(Path(root), seed=seed, progress=progress)


def register(subparsers) -> None:
    """Add ``clickme demo``."""
    demo = subparsers.add_parser(
        "demo",
        help="run the whole pipeline on the embedded data set, write a report",
        description="ClickMe maps -> reliability -> stimuli -> simulated experiment -> "
        "models -> report.html, on images scikit-image ships.",
    )
    demo.add_argument("--out", type=Path, default=Path("demo_output"), help="output folder (default demo_output)")
    demo.add_argument("--seed", type=cliargs.seed, default=0)
    cliargs.add_progress(demo)
    demo.set_defaults(func=_demo)


def _demo(args) -> int:
    report = run(args.out, seed=args.seed, progress=not args.no_progress)
    print(f"report: {report.resolve()}")
    return 0
