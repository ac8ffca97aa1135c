"""``clickme experiment power``: simulation-based power of the analysis, for planning a study.

The plan's numbers come, later ones winning, from the defaults (the calibration benchmark's
design and model, docs/experiments.md), the experiment TOML (``--config``: groups; with a
readable manifest its revealed levels and images; trials per level = test trials / conditions),
a pilot (``--pilot``: ``experiment analyze``'s ``mixed_model.csv`` and ``accuracy.csv``) and the
flags. The library: :mod:`clickme_analysis.power`.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from clickme_analysis.cliargs import (
    add_progress,
    correlation,
    existing_path,
    finite_float,
    jobs,
    nonnegative_float,
    positive_float,
    positive_int,
    probability,
    seed,
)
from clickme_analysis.errors import InputError
from clickme_analysis.fileio import atomic_write_text
from experiments.config import load_experiment_config
from experiments.design import load_manifest


def _numbers(kind):
    def parse(text: str):
        try:
            values = tuple(kind(v) for v in text.replace(",", " ").split())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
        if not values:
            raise argparse.ArgumentTypeError(f"expected one or more numbers, got {text!r}")
        return values

    parse.__name__ = "numbers"
    return parse


def register(sub) -> None:
    """Add ``power`` to the ``experiment`` actions."""
    p = sub.add_parser(
        "power",
        help="power of the analysis by simulation, over participants per group",
        description="Simulate the experiment from the mixed model and analyse each data set as "
        "`experiment analyze` does; power per participants-per-group N with 95% "
        "intervals, the smallest N reaching --target, a CSV and a figure.",
    )
    p.add_argument("--participants", type=_numbers(int), required=True, help="participants per group, e.g. 10,20,30")
    p.add_argument("--config", type=existing_path, help="experiment TOML (groups; levels and images from its manifest)")
    p.add_argument("--pilot", type=existing_path, help="folder written by `experiment analyze` (mixed_model.csv)")
    design = p.add_argument_group("design (default: the calibration benchmark's)")
    design.add_argument("--levels", type=_numbers(float), help="revealed levels (%%), e.g. 1,2,5,10,20,50")
    design.add_argument("--images", type=positive_int, help="images in the set")
    design.add_argument("--trials-per-level", type=positive_int, help="trials per level and participant")
    model = p.add_argument_group("model (default: the pilot's, else the calibration benchmark's)")
    for name, kind, what in (
        ("intercept", finite_float, "log-odds of the reference group at 1 %% revealed"),
        ("slope", finite_float, "log-odds per log10 unit of level"),
        ("participant-sd", nonnegative_float, "SD of participant intercepts"),
        ("slope-sd", nonnegative_float, "SD of participant slopes"),
        ("correlation", correlation, "correlation of participant intercepts and slopes"),
        ("image-sd", nonnegative_float, "SD of image intercepts"),
    ):
        model.add_argument(f"--{name}", type=kind, help=what)
    effects = p.add_argument_group("effects (default: the pilot's estimates, else none)")
    effects.add_argument("--group-difference", type=finite_float, help="group b - a at --at-level (see --scale)")
    effects.add_argument("--at-level", type=positive_float, help="level of the group difference (default: lowest)")
    effects.add_argument(
        "--scale",
        choices=("logit", "accuracy"),
        default="logit",
        help="--group-difference in log-odds or in P(correct)",
    )
    effects.add_argument("--interaction", type=finite_float, help="group x log10(level), log-odds per log10 unit")
    effects.add_argument(
        "--threshold-ratio", type=positive_float, help="instead of --group-difference: group b's 50%% level / group a's"
    )
    p.add_argument(
        "--test",
        action="append",
        choices=("group", "interaction", "permutation", "threshold"),
        help="tests (repeatable; default group and interaction: the mixed model, REML + t)",
    )
    p.add_argument("--sims", type=positive_int, default=200, help="simulated data sets per N")
    p.add_argument("--alpha", type=probability, default=0.05)
    p.add_argument("--target", type=probability, default=0.8, help="power to reach")
    p.add_argument("--permutations", type=positive_int, default=10000, help="permutation test: permutations")
    p.add_argument("--boot", type=positive_int, default=200, help="threshold test: bootstrap resamples")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--jobs", type=jobs, default=1, help="parallel processes (joblib; -1: all cores)")
    p.add_argument("--cold-start", action="store_true", help="fit from lme4's start, not the generating values")
    add_progress(p)
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.set_defaults(func=_power)


def _config_design(path) -> dict:
    """Groups, and with a readable manifest the levels, images and trials per level, of a TOML."""
    config = load_experiment_config(path)
    out = {"groups": tuple(config.groups)}
    if len(config.groups) != 2:
        raise InputError(f"power compares two groups, got {list(config.groups)}", path=path, field="groups")
    manifest_path = Path(config.manifest)
    if manifest_path.is_file():
        manifest = load_manifest(manifest_path)
        revealed = manifest[manifest["map_source"] != "intact"]
        levels = tuple(sorted(revealed["level"].unique().tolist()))
        out["levels"] = levels
        out["n_images"] = int(manifest["image_id"].nunique())
        out["trials_per_level"] = max(config.n_blocks * config.trials_per_block // (len(levels) + 1), 1)
    return out


def plan(args):
    """(Design, Truth, at_level, notes) of the command line."""
    # here, not at the top: clickme_app.cli imports this module for every command, and power pulls in
    # scipy.stats, pandas and joblib (about 1 s of `clickme --help` start-up)
    from clickme_analysis import power

    notes, found, truth = [], {}, power.Truth()
    if args.config:
        found.update(_config_design(args.config))
    if args.pilot:
        truth, info = power.truth_from_pilot(args.pilot)
        notes.append(f"model from the pilot {args.pilot}: {truth}")
        found.update({k: info[k] for k in ("levels", "groups", "n_images", "trials_per_level") if k in info})
    given = {"levels": args.levels, "n_images": args.images, "trials_per_level": args.trials_per_level}
    found.update({k: v for k, v in given.items() if v is not None})
    design = power.Design(**found)
    overrides = {
        k.replace("-", "_"): getattr(args, k.replace("-", "_"))
        for k in ("intercept", "slope", "participant-sd", "slope-sd", "correlation", "image-sd")
    }
    truth = replace(truth, **{k: v for k, v in overrides.items() if v is not None})
    at_level = args.at_level or min(design.levels)
    truth = power.with_effects(
        truth,
        group_difference=args.group_difference,
        at_level=at_level,
        interaction=args.interaction,
        threshold_ratio=args.threshold_ratio,
        scale=args.scale,
    )
    return design, truth, at_level, notes


def _power(args) -> int:
    from clickme_analysis import power  # see plan

    if args.jobs == 0 or args.jobs < -1:
        raise InputError(f"expected --jobs >= 1 or -1, got {args.jobs}", field="jobs")
    design, truth, at_level, notes = plan(args)
    tests = tuple(args.test or ("group", "interaction"))
    sims = power.simulate_power(
        design,
        truth,
        args.participants,
        n_sims=args.sims,
        tests=tests,
        at_level=at_level,
        seed=args.seed,
        n_jobs=args.jobs,
        warm_start=not args.cold_start,
        n_permutations=args.permutations,
        n_boot=args.boot,
        progress=not args.no_progress and sys.stderr.isatty(),
    )
    table = power.power_table(sims, args.alpha).assign(
        at_level=at_level, seed=args.seed, **power.describe(design, truth)
    )
    summary = power.smallest_n(table, args.target)
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "power_simulations.csv", sims.to_csv(index=False))
    atomic_write_text(args.out / "power.csv", table.to_csv(index=False))
    atomic_write_text(args.out / "power_summary.csv", summary.to_csv(index=False))
    power.plot_power(table, args.out / "power.png", args.target)
    for note in notes:
        print(note)
    print(table[["n_per_group", "test", "n_sims", "power", "ci_low", "ci_high"]].round(3).to_string(index=False))
    for row in summary.itertuples(index=False):
        n = "not reached" if row.n_for_target != row.n_for_target else f"{int(row.n_for_target)} per group"
        print(f"{row.test}: power >= {row.target:g} from N = {n} (of {list(args.participants)})")
    print(f"wrote {args.out}/power.csv, power_summary.csv, power_simulations.csv, power.png")
    return 0
