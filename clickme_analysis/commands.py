"""``clickme maps``, ``clickme reliability`` and ``clickme metrics``."""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import json
import sys
from pathlib import Path

from clickme_analysis.archive import open_maps
from clickme_analysis.cliargs import (
    add_progress,
    existing_path,
    nonnegative_int,
    output_path,
    positive_float,
    positive_int,
    probability,
    seed,
)
from clickme_analysis.fileio import atomic_write_text
from clickme_analysis.fixations import read_fixations
from clickme_analysis.ids import match_ids
from clickme_analysis.labels import label_map
from clickme_analysis.metrics import score_maps
from clickme_analysis.pipeline import load_map_options, open_logs, write_maps, write_reliability
from clickme_analysis.reliability import PAPER_CEILING
from clickme_analysis.reliability_curve import write_curve
from clickme_analysis.shapes import empty_warning, image_sizes

LOG_FORMATS = ["csv", "tsv", "jsonl", "parquet", "npz"]


def _jobs(text: str) -> int:
    """argparse type: a thread count >= 1, or -1 for all cores."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1 or -1, got {text!r}") from None
    if value != -1 and value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1 or -1, got {text!r}")
    return value


def _add_log_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("logs", nargs="+", type=existing_path, help="click logs (.csv .tsv .jsonl .parquet .npz)")
    parser.add_argument(
        "--format", dest="fmt", choices=LOG_FORMATS, help="override the format implied by the file suffix"
    )
    parser.add_argument(
        "--on-error",
        choices=["raise", "skip"],
        default="raise",
        help="malformed rows: stop with a located error (default) or skip and count them",
    )
    parser.add_argument(
        "--id-rule",
        choices=["stem", "relative", "path"],
        default="stem",
        help="how image paths become ids: file stem (default), path relative to --id-root, or the path as written",
    )
    parser.add_argument("--id-root", help="folder the 'relative' id rule strips (e.g. imagenet)")
    parser.add_argument(
        "--catch-threshold",
        type=probability,
        default=0.95,
        help="ClickMe 2.0 NPZ: keep trials whose user's catch-trial accuracy is at least this "
        "(default 0.95, as the authors)",
    )
    parser.add_argument(
        "--exclude-mobile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="ClickMe 2.0 NPZ: leave out mobile trials (default keep; --preset clickme2: leave out)",
    )
    add_progress(parser)


def _add_map_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("maps (defaults: the paper's; a --config TOML may set them, flags win)")
    group.add_argument(
        "--config", type=existing_path, help="TOML file of map options (keys of MapOptions, top level or under [maps])"
    )
    group.add_argument("--size", type=positive_int, help="image grid side in pixels (default 256)")
    group.add_argument("--bubble-size", type=positive_int, help="bubble side in pixels (default 14, as the game)")
    group.add_argument("--bubble", choices=["square", "disc"])
    group.add_argument(
        "--blur", choices=["box", "gaussian", "disc", "none"], help="blur kernel (default box, 49x49 as the paper)"
    )
    group.add_argument("--blur-size", type=positive_int, help="kernel side (default 49)")
    group.add_argument("--sigma", type=positive_float, help="Gaussian sigma (authors' code: 28 with size 49)")
    group.add_argument(
        "--min-clicks",
        type=nonnegative_int,
        help="drop participant maps with this many clicks or fewer (ClickMe 2.0 code: 10)",
    )
    group.add_argument("--max-clicks", type=positive_int, help="keep each map's first N clicks (ClickMe 2.0 code: 75)")
    _add_clickme2_args(group)


#: options of the ClickMe 2.0 authors' rules (MapOptions fields); each also set by --preset clickme2
_RULE_OPTIONS = (
    "preset",
    "count_outside",
    "min_subjects",
    "repeat_submissions",
    "exclude_mobile",
    "mobile_rule",
    "blur_passes",
    "blur_border",
    "disc_radius",
    "blur_reference_size",
    "blur_max_size",
)
_SPLIT_HALF_OPTIONS = ("split_half_replacement", "split_half_resize", "split_half_crop", "split_half_correction")


def _add_clickme2_args(group) -> None:
    """The ClickMe 2.0 authors' rules, each an option (docs/metrics.md has the table)."""
    group.add_argument(
        "--preset",
        choices=["clickme2"],
        help="named bundle of option values: clickme2 = the ClickMe 2.0 authors' maps and ceiling "
        "(explicit options win)",
    )
    group.add_argument(
        "--min-subjects", type=positive_int, help="an image needs this many kept maps (default 1; clickme2: 5)"
    )
    group.add_argument(
        "--count-outside",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="--no-count-outside: a map also needs --min-clicks of its clicks inside the image (clickme2)",
    )
    group.add_argument(
        "--repeat-submissions",
        choices=["merge", "first", "error"],
        help="a participant's later submissions of an image: merged into one map (default), left "
        "out (first; clickme2) or an error",
    )
    group.add_argument(
        "--mobile-rule",
        choices=["any", "first"],
        help="ClickMe 2.0 NPZ: a trial is mobile when any is_mobile value is true (default) or its first (clickme2)",
    )
    group.add_argument("--blur-passes", type=positive_int, help="apply the kernel this many times (clickme2: 2)")
    group.add_argument(
        "--blur-border",
        choices=["reflect", "constant", "nearest", "mirror", "wrap"],
        help="border rule of the blur (default reflect; constant = zero padding, clickme2)",
    )
    group.add_argument(
        "--disc-radius",
        choices=["size/2", "(size-1)/2"],
        help="radius of --blur disc (default size/2; clickme2: (size-1)/2)",
    )
    group.add_argument(
        "--blur-reference-size",
        type=positive_int,
        help="scale the kernel to the map: side round(blur_size * size / this), made odd (clickme2: 256)",
    )
    group.add_argument("--blur-max-size", type=positive_int, help="cap of the scaled kernel side (clickme2: 51)")


def _add_split_half_args(parser) -> None:
    group = parser.add_argument_group("split-half ceiling (clickme_analysis.ceiling; set by --preset clickme2)")
    group.add_argument(
        "--split-half-replacement",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="top each half up with n // 2 draws with replacement from its members",
    )
    group.add_argument(
        "--split-half-resize", type=positive_int, help="resize halves to this short side (clickme2: 256)"
    )
    group.add_argument("--split-half-crop", type=positive_int, help="centre-crop halves to this side (clickme2: 224)")
    group.add_argument(
        "--split-half-correction",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="Spearman-Brown correction of the split-half ceiling (default on; clickme2: off)",
    )


def _map_options(args, normalize=None):

    names = (
        ("size", "bubble_size", "bubble", "blur", "blur_size", "sigma", "min_clicks", "max_clicks")
        + _RULE_OPTIONS
        + _SPLIT_HALF_OPTIONS
    )
    given = {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}
    if given.get("blur") == "none":
        given["blur"] = None
    if normalize is not None:
        given["normalize"] = None if normalize == "none" else normalize
    return load_map_options(args.config, overrides=given)


def _fixed_mmap_threshold(nbytes: int = 128 << 10) -> None:
    """glibc only: serve blocks of ``nbytes`` or more by ``mmap`` always, so the bucket-sized
    arrays freed after each bucket go back to the system. (glibc's default raises that threshold
    as large blocks are freed, up to 32 MB, and the heap then fragments: ``clickme maps`` grew by
    about 1 KB an image.) A no-op elsewhere; it only changes where this process's memory comes from."""

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-3, int(nbytes))  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass


def _open(args, options, spill: bool = True):

    store, reader = open_logs(
        args.logs,
        fmt=args.fmt,
        on_error=args.on_error,
        progress=not args.no_progress,
        spill=spill,
        id_rule=args.id_rule,
        id_root=args.id_root,
        catch_threshold=args.catch_threshold,
        **options.reader_kwargs(),
    )
    skipped = reader.skipped()
    excluded = skipped[skipped["field"].isin(["user_catch_trial", "is_mobile", "submission"])]
    malformed = skipped.drop(excluded.index)
    if len(excluded):
        by_reason = excluded["field"].value_counts().to_dict()
        print(
            f"excluded {len(excluded)} trial(s) by design: "
            + ", ".join(f"{n} {_EXCLUSION_REASONS.get(k, k)}" for k, n in by_reason.items()),
            file=sys.stderr,
        )
    if len(malformed):
        print(f"skipped {len(malformed)} malformed row(s):", file=sys.stderr)
        for row in malformed.head(20).itertuples():
            print(f"  {row.path}, line {row.line}, field {row.field!r}: {row.message}", file=sys.stderr)
        if len(malformed) > 20:
            print(f"  ... and {len(malformed) - 20} more", file=sys.stderr)
    return store, reader, len(malformed)


_EXCLUSION_REASONS = {
    "user_catch_trial": "below the catch-trial threshold",
    "is_mobile": "mobile",
    "submission": "repeat submission(s) (--repeat-submissions first)",
}


def _maps(args) -> int:

    options = _map_options(args, args.normalize)
    _fixed_mmap_threshold()
    labels = label_map(args.labels, id_rule=args.id_rule) if args.labels else None
    sizes = image_sizes(args.images, id_rule=args.id_rule) if args.images else None
    store, _, n_malformed = _open(args, options)
    with store:
        if labels:
            match_ids(labels, store.image_ids, what="labels", other="images of the logs")
        result = write_maps(
            store, args.out, options, labels=labels, bbox_out=args.bbox_out, progress=not args.no_progress, sizes=sizes
        )
        n_participants = len(set(store.pairs.participant.tolist()))
        n_clicks = store.n_clicks
    if args.stats:
        atomic_write_text(args.stats, result.per_image.to_csv(index=False))
    per_image = result.per_image
    print(
        f"{result.n_maps} maps from {n_participants} participants and {n_clicks} clicks -> {args.out} "
        f"({result.bytes_per_map / 1024:.1f} KB per map, {result.encoding}, lossless); "
        f"{int(per_image['n_outside'].sum())} click(s) outside the image (counted, not painted); "
        f"{int(per_image['n_excluded'].sum())} map(s) filtered out; {int(per_image['n_repeats'].sum())} repeat "
        f"submission(s) met ({options.repeat_submissions}); {n_malformed} row(s) skipped"
    )
    if result.empty:
        print(empty_warning(result.empty, "written (metrics, stimuli build and alignment skip them)"), file=sys.stderr)
    return 0


def _reliability(args) -> int:

    options = _map_options(args)
    # a sample of images: count the maps, then read again only the sampled images' clicks
    sampled = bool(args.n_images) and not args.split_half and not args.curve and options.count_outside
    store, _, _ = _open(args, options, spill=not sampled)
    with store:
        summary = write_reliability(
            store,
            args.out,
            options,
            n_images=args.n_images or None,
            split_half_iterations=args.split_half,
            n_boot=args.n_boot,
            ceiling=args.ceiling,
            seed=args.seed,
            n_jobs=args.jobs,
            progress=not args.no_progress,
        )
        if args.curve:  # players per image (docs/metrics.md, Reliability curve)
            summary["curve"] = write_curve(
                store,
                args.out,
                options,
                n_iterations=args.curve_iterations,
                seed=args.seed,
                progress=not args.no_progress,
            )
            atomic_write_text(args.out / "reliability_summary.json", json.dumps(summary, indent=2))
    print(
        json.dumps(
            {
                k: summary[k]
                for k in ("human", "null", "fraction_of_ceiling", "ceiling", "ceiling_source", "split_half")
                if k in summary
            },
            indent=2,
        )
    )
    for target, answer in summary.get("curve", {}).get("participants_for_reliability", {}).items():
        n = "not reached (above the fitted ceiling)" if answer["source"] == "none" else f"{answer['participants']:g}"
        print(f"participants per image for reliability {target}: {n} ({answer['source']})")
    return 0


def _metrics(args) -> int:

    fixations = None
    if args.fixations:
        fixations = read_fixations(args.fixations, id_rule=args.id_rule)
    with open_maps(args.pred, id_rule=args.id_rule) as pred, open_maps(args.human, id_rule=args.id_rule) as human:
        table = score_maps(
            pred,
            human,
            metrics=args.metric,
            seed=args.seed,
            progress=not args.no_progress,
            fixations=fixations,
            match=True,
        )
    atomic_write_text(args.out, table.to_csv(index=False))
    resized = (
        table.loc[table["resized_from"] != "", ["image_id", "resized_from"]].drop_duplicates()
        if "resized_from" in table
        else table.iloc[:0]
    )
    if len(resized):
        print(
            f"resized {len(resized)} prediction(s) to the human map's size (same aspect ratio; bicubic with "
            f"antialiasing, as the MIT benchmark's imresize), e.g. {resized.iloc[0].image_id} from "
            f"{resized.iloc[0].resized_from}; see the resized_from column",
            file=sys.stderr,
        )
    print(table.groupby("metric")["value"].agg(["mean", "std", "count"]).to_string())
    return 0


def register(subparsers) -> None:
    """Add the ClickMe data-core subcommands."""
    p = subparsers.add_parser(
        "maps",
        help="click logs -> map archive (.h5 map store or .npz)",
        description="Build blurred per-image ClickMe maps from click logs, streaming "
        "(bounded memory); .h5 output: a chunked, lossless HDF5 map store.",
    )
    _add_log_args(p)
    _add_map_args(p)
    p.add_argument("--normalize", choices=["sum", "max", "z", "none"], help="normalise each map after blurring")
    p.add_argument("--labels", type=existing_path, help="labels.csv (image_id, label) stored with the maps")
    p.add_argument(
        "--images",
        type=existing_path,
        help="folder of the images: each map takes its image's size (default: the --size grid)",
    )
    p.add_argument("--bbox-out", type=output_path, help="also write bounding-box control maps to this archive")
    p.add_argument("--stats", type=output_path, help="write per-image game statistics (CSV)")
    p.add_argument("--out", type=output_path, required=True, help="output map archive (.h5 / .hdf5 or .npz)")
    p.set_defaults(func=_maps)

    p = subparsers.add_parser(
        "reliability",
        help="inter-rater / split-half reliability of ClickMe maps",
        description="Spearman reliability of ClickMe maps between participants, with a "
        "null of different images; writes CSV + JSON.",
    )
    _add_log_args(p)
    _add_map_args(p)
    p.add_argument("--n-images", type=nonnegative_int, default=10_000, help="images sampled (0: all; paper: 10,000)")
    p.add_argument("--split-half", type=nonnegative_int, default=0, metavar="K", help="also K split-half iterations")
    p.add_argument("--n-boot", type=positive_int, default=1000, help="bootstrap resamples for the 95%% CI")
    p.add_argument("--curve", action="store_true", help="also reliability vs participants per image, projected")
    p.add_argument("--curve-iterations", type=positive_int, default=10, help="subsampling iterations of --curve")
    p.add_argument(
        "--ceiling",
        type=positive_float,
        help="human ceiling for model fractions (default: the paper's reliability.PAPER_CEILING)",
    )
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--jobs", type=_jobs, default=1, help="ranking threads (-1: all cores)")
    _add_split_half_args(p)
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.set_defaults(func=_reliability_with_ceiling)

    p = subparsers.add_parser(
        "metrics",
        help="score predicted maps against human maps",
        description="Saliency metrics (MIT benchmark definitions) of predicted maps vs "
        "human ClickMe maps, per image, as a tidy CSV. Map sources: an .npz "
        "archive, an HDF5 map file or a folder of PNG/JPG/NPY maps.",
    )
    p.add_argument("--pred", type=existing_path, required=True, help="predicted maps (archive, HDF5 or folder)")
    p.add_argument("--human", type=existing_path, required=True, help="human maps (archive, HDF5 or folder)")
    p.add_argument(
        "--fixations",
        type=existing_path,
        help="eye-tracking fixations for NSS and the AUCs: CSV image_id,x,y or SALICON fixation JSON",
    )
    p.add_argument(
        "--id-rule",
        choices=["stem", "relative", "path"],
        default="stem",
        help="how file names in folders / HDF5 files become ids (default: the stem)",
    )
    p.add_argument("--metric", action="append", help="metric name (repeatable; default all)")
    p.add_argument("--seed", type=seed, default=0, help="seed for AUC-Borji / shuffled AUC negatives")
    add_progress(p)
    p.add_argument("--out", type=output_path, required=True, help="output CSV (image_id, metric, value, resized_from)")
    p.set_defaults(func=_metrics)


def _reliability_with_ceiling(args) -> int:

    if args.ceiling is None:
        args.ceiling = PAPER_CEILING
    return _reliability(args)
