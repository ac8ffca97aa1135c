"""``clickme maps``, ``clickme reliability`` and ``clickme metrics``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _add_log_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("logs", nargs="+", type=Path, help="click logs (.csv .tsv .jsonl .parquet .npz)")
    parser.add_argument("--format", dest="fmt", choices=["csv", "tsv", "jsonl", "parquet", "npz"],
                        help="override the format implied by the file suffix")
    parser.add_argument("--on-error", choices=["raise", "skip"], default="raise",
                        help="malformed rows: stop with a located error (default) or skip and count them")


def _add_map_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("maps")
    group.add_argument("--size", type=int, default=256, help="image grid side in pixels (default 256)")
    group.add_argument("--bubble-size", type=int, default=14, help="bubble side in pixels (default 14, as the game)")
    group.add_argument("--bubble", choices=["square", "disc"], default="square")
    group.add_argument("--blur", choices=["box", "gaussian", "disc", "none"], default="box",
                       help="blur kernel (default box, 49x49 as the paper)")
    group.add_argument("--blur-size", type=int, default=49)
    group.add_argument("--sigma", type=float, help="Gaussian sigma (authors' code: 28 with size 49)")
    group.add_argument("--min-clicks", type=int, default=0,
                       help="drop participant maps with this many clicks or fewer (ClickMe 2.0 code: 10)")
    group.add_argument("--max-clicks", type=int, help="keep each map's first N clicks (ClickMe 2.0 code: 75)")


def _map_options(args, normalize=None):
    from clickme_analysis.pipeline import MapOptions

    return MapOptions(size=args.size, bubble_size=args.bubble_size, bubble=args.bubble,
                      blur=None if args.blur == "none" else args.blur, blur_size=args.blur_size,
                      sigma=args.sigma, normalize=normalize, min_clicks=args.min_clicks,
                      max_clicks=args.max_clicks)


def _read(args):
    from clickme_analysis.pipeline import read_logs

    log = read_logs(args.logs, fmt=args.fmt, on_error=args.on_error)
    if len(log.skipped):
        print(f"skipped {len(log.skipped)} malformed row(s):", file=sys.stderr)
        for row in log.skipped.head(20).itertuples():
            print(f"  {row.path}, line {row.line}, field {row.field!r}: {row.message}", file=sys.stderr)
        if len(log.skipped) > 20:
            print(f"  ... and {len(log.skipped) - 20} more", file=sys.stderr)
    return log


def _maps(args) -> int:
    from clickme_analysis.pipeline import make_map_archive, read_labels

    log = _read(args)
    labels = read_labels(args.labels) if args.labels else None
    per_image = make_map_archive(log.clicks, args.out, _map_options(args, args.normalize), labels=labels,
                                 bbox_out=args.bbox_out, progress=True)
    if args.stats:
        per_image.to_csv(args.stats, index=False)
    print(f"{len(per_image)} maps from {log.clicks['participant_id'].nunique()} participants and "
          f"{len(log.clicks)} clicks -> {args.out}; {int(per_image['n_outside'].sum())} click(s) outside the "
          f"image (counted, not painted); {len(log.skipped)} row(s) skipped")
    return 0


def _reliability(args) -> int:
    import json

    from clickme_analysis.pipeline import write_reliability

    log = _read(args)
    summary = write_reliability(log.clicks, args.out, _map_options(args), n_images=args.n_images or None,
                                split_half_iterations=args.split_half, n_boot=args.n_boot, ceiling=args.ceiling,
                                seed=args.seed, n_jobs=args.jobs, progress=True)
    print(json.dumps({k: summary[k] for k in ("human", "null", "fraction_of_ceiling")}, indent=2))
    return 0


def _metrics(args) -> int:
    from clickme_analysis.archive import MapArchive
    from clickme_analysis.metrics import score_maps

    with MapArchive(args.pred) as pred, MapArchive(args.human) as human:
        table = score_maps(pred, human, metrics=args.metric, seed=args.seed, progress=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print(table.groupby("metric")["value"].agg(["mean", "std", "count"]).to_string())
    return 0


def register(subparsers) -> None:
    """Add the ClickMe data-core subcommands."""
    p = subparsers.add_parser("maps", help="click logs -> map archive (.npz)",
                              description="Build blurred per-image ClickMe maps from click logs.")
    _add_log_args(p)
    _add_map_args(p)
    p.add_argument("--normalize", choices=["sum", "max", "z"], help="normalise each map after blurring")
    p.add_argument("--labels", type=Path, help="labels.csv (image_id, label) stored with the maps")
    p.add_argument("--bbox-out", type=Path, help="also write bounding-box control maps to this archive")
    p.add_argument("--stats", type=Path, help="write per-image game statistics (CSV)")
    p.add_argument("--out", type=Path, required=True, help="output map archive (.npz)")
    p.set_defaults(func=_maps)

    p = subparsers.add_parser("reliability", help="inter-rater / split-half reliability of ClickMe maps",
                              description="Spearman reliability of ClickMe maps between participants, with a "
                                          "null of different images; writes CSV + JSON.")
    _add_log_args(p)
    _add_map_args(p)
    p.add_argument("--n-images", type=int, default=10_000, help="images sampled (0: all; paper: 10,000)")
    p.add_argument("--split-half", type=int, default=0, metavar="K", help="also K split-half iterations")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for the 95%% CI")
    p.add_argument("--ceiling", type=float, default=0.58, help="human ceiling for model fractions (paper 0.58)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=1, help="ranking threads (-1: all cores)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.set_defaults(func=_reliability)

    p = subparsers.add_parser("metrics", help="score predicted maps against human maps",
                              description="Saliency metrics (MIT benchmark definitions) of predicted maps vs "
                                          "human ClickMe maps, per image, as a tidy CSV.")
    p.add_argument("--pred", type=Path, required=True, help="map archive of predictions")
    p.add_argument("--human", type=Path, required=True, help="map archive of human maps")
    p.add_argument("--metric", action="append", help="metric name (repeatable; default all)")
    p.add_argument("--seed", type=int, default=0, help="seed for AUC-Borji / shuffled AUC negatives")
    p.add_argument("--out", type=Path, required=True, help="output CSV (image_id, metric, value)")
    p.set_defaults(func=_metrics)
