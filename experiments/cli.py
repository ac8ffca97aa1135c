"""``clickme experiment run``, ``analyze`` and (experiments/power_cli.py) ``power``."""

from __future__ import annotations

from pathlib import Path

from clickme_analysis.cliargs import (
    add_progress,
    nonnegative_float,
    nonnegative_int,
    positive_float,
    positive_int,
    probability,
    seed,
)
from clickme_analysis.errors import InputError
from clickme_analysis.events import load_gonogo
from experiments import power_cli
from experiments.config import load_experiment_config
from experiments.observer import SimulatedObserver, demo_observers
from experiments.online.export import online_sessions
from experiments.runner import run_session
from experiments.session import partial_sessions, simulate_session


def register(subparsers) -> None:
    """Add ``experiment`` with its ``run`` and ``analyze`` sub-subcommands."""
    parser = subparsers.add_parser(
        "experiment",
        help="rapid-categorization experiment: run a session, analyze data",
        description="Rapid-categorization experiment (PsychoPy) and its analysis.",
    )
    sub = parser.add_subparsers(dest="experiment_command", required=True, metavar="ACTION")

    run = sub.add_parser("run", help="run (or resume) one participant's session in PsychoPy")
    run.add_argument("--config", type=Path, required=True, help="experiment TOML (docs/experiments.md)")
    run.add_argument("--participant", required=True, help="participant ID, e.g. P007")
    run.add_argument(
        "--index",
        type=nonnegative_int,
        default=None,
        help="rotation index (group, list, key map, seed); default: the ID's trailing digits",
    )
    run.add_argument("--data", type=Path, default=Path("data"), help="folder for <participant>.csv/.json")
    run.add_argument("--resume", action="store_true", help="continue an interrupted session from its CSV")
    run.add_argument(
        "--simulate", action="store_true", help="a simulated observer presses the keys (through PsychoPy's event path)"
    )
    run.add_argument(
        "--no-window", action="store_true", help="with --simulate: run the design and observer without PsychoPy"
    )
    run.add_argument(
        "--assume-fps",
        type=positive_float,
        default=None,
        help="nominal refresh rate for displays without vsync (Xvfb); default: measured",
    )
    run.add_argument("--windowed", action="store_true", help="open a window instead of full screen")
    run.add_argument("--seed", type=seed, default=None, help="override the config's seed")
    add_progress(run)
    run.set_defaults(func=_run)

    analyze = sub.add_parser("analyze", help="statistics of runner CSVs (or BIDS go/no-go events.tsv)")
    analyze.add_argument("data", nargs="+", type=Path, help="runner CSVs or folders of them")
    analyze.add_argument(
        "--out", type=Path, required=True, help="output folder for the tables (clickme report draws the figure)"
    )
    analyze.add_argument(
        "--events",
        action="store_true",
        help="inputs are BIDS *_events.tsv go/no-go files: write per-participant accuracy and RT",
    )
    analyze.add_argument(
        "--late-ms", type=positive_float, default=1000.0, help="--events: RT at or above this is no-go"
    )
    analyze.add_argument(
        "--min-rt",
        type=nonnegative_float,
        default=None,
        help="exclude responses faster than this (s); default 0.02, with --events 0.1",
    )
    analyze.add_argument("--max-rt", type=positive_float, default=None, help="exclude responses slower than this (s)")
    analyze.add_argument(
        "--min-full-accuracy",
        type=probability,
        default=None,
        help="drop participants at or below this accuracy on the intact image (authors: 0.5)",
    )
    analyze.add_argument("--permutations", type=positive_int, default=10000, help="permutations per test")
    analyze.add_argument(
        "--boot", type=nonnegative_int, default=200, help="bootstrap resamples of the psychometric fits"
    )
    analyze.add_argument("--model", choices=("logistic", "weibull"), default="logistic")
    analyze.add_argument("--seed", type=seed, default=0)
    add_progress(analyze)
    analyze.add_argument(
        "--all-sessions",
        action="store_true",
        help="online data: analyse partial, refused and flagged sessions too (default: complete only)",
    )
    analyze.set_defaults(func=_analyze)
    power_cli.register(sub)  # `clickme experiment power` (docs/experiments.md, Planning)


def _run(args) -> int:

    overrides = {} if args.seed is None else {"seed": args.seed}
    config = load_experiment_config(args.config, **overrides)
    observer = None
    if args.simulate:
        known = demo_observers()
        observer = {g: known.get(g, SimulatedObserver()) for g in config.groups}
    if args.no_window:
        if observer is None:
            raise InputError("--no-window needs --simulate", field="no-window")
        path = simulate_session(
            config,
            args.participant,
            args.data,
            observer,
            index=args.index,
            fps=args.assume_fps or 60.0,
            resume=args.resume,
            progress=not args.no_progress,
        )
    else:
        path = run_session(
            config,
            args.participant,
            args.data,
            index=args.index,
            resume=args.resume,
            observer=observer,
            assume_fps=args.assume_fps,
            fullscreen=False if args.windowed else None,
            progress=not args.no_progress,
        )
    print(path)
    return 0


def _analyze(args) -> int:
    from clickme_analysis.psychophysics.analysis import analyze, write_analysis
    from clickme_analysis.psychophysics.descriptives import participant_summary
    from clickme_analysis.psychophysics.detection import signal_detection
    from clickme_analysis.psychophysics.exclusions import exclude_trials
    from clickme_analysis.psychophysics.trials import load_trials

    args.out.mkdir(parents=True, exist_ok=True)
    if args.events:
        trials = load_gonogo(args.data, late_ms=args.late_ms, progress=not args.no_progress)
        flagged = exclude_trials(trials, 0.1 if args.min_rt is None else args.min_rt, args.max_rt)
        summary = participant_summary(flagged)
        sdt = signal_detection(flagged)
        write_analysis({"participants": summary, "signal_detection": sdt}, args.out)
        print(summary.merge(sdt[["participant", "hit_rate", "fa_rate", "d_prime", "criterion"]]).to_string(index=False))
        print(
            f"mean accuracy {summary['accuracy'].mean():.4f}, S.E.M. {summary['accuracy'].sem():.4f}, "
            f"mean d' {sdt['d_prime'].mean():.3f} (log-linear correction), N = {len(summary)}"
        )
        return 0

    data, listing = online_sessions(args.data, include_all=args.all_sessions)
    if listing:
        print(listing)
    results = analyze(
        load_trials(data),
        min_rt=0.02 if args.min_rt is None else args.min_rt,
        max_rt=args.max_rt,
        min_intact_accuracy=args.min_full_accuracy,
        n_permutations=args.permutations,
        n_boot=args.boot,
        model=args.model,
        seed=args.seed,
        progress=not args.no_progress,
    )
    for path in write_analysis(results, args.out):
        print(path)
    partial = partial_sessions(data)
    if partial:
        print(
            f"{len(partial)} partial session(s), included in the analysis: "
            + ", ".join(
                f"{s['participant']} ({s['status']}, {s['trials_done']} of {s['n_trials']} trials)" for s in partial
            )
        )
    if len(results["mixed_model"]) and results["mixed_model"]["note"].iloc[0]:
        print(f"mixed model: {results['mixed_model']['note'].iloc[0]}")
    return 0
