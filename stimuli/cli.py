"""``clickme stimuli build``: reveal stimulus sets from images and map archives."""

from __future__ import annotations

from pathlib import Path

from clickme_analysis.cliargs import add_progress, nonnegative_float, positive_float, positive_int, probability, seed
from clickme_analysis.errors import InputError


def register(subparsers) -> None:
    """Add ``clickme stimuli`` and its subcommands to the ``clickme`` parser."""
    stimuli = subparsers.add_parser("stimuli", help="reveal stimuli for rapid categorisation")
    commands = stimuli.add_subparsers(dest="stimuli_command", required=True, metavar="SUBCOMMAND")
    p = commands.add_parser(
        "build",
        help="log-spaced reveal levels over a phase-scrambled background, manifest, Latin square",
        description="Write PNG stimuli revealing 1%..100% of each image's most important pixels "
        "(stochastic flood-fill of its map over a phase scramble), the intact images, "
        "manifest.csv, assignment.csv and contact sheets.",
    )
    p.add_argument("--images", type=Path, required=True, help="folder of <image_id>.png|.jpg|.jpeg")
    p.add_argument(
        "--maps",
        type=Path,
        required=True,
        help="map archive (.npz) of the first source; its images form the set and set the budget",
    )
    p.add_argument("--maps-b", type=Path, help="map archive of a second source, revealed with the same budget")
    p.add_argument("--name", default="clickme", help="map_source name of --maps")
    p.add_argument("--name-b", default="saliency", help="map_source name of --maps-b")
    p.add_argument("--labels", type=Path, help="labels.csv: image_id, label, category (animal / non-animal)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument(
        "--config",
        type=Path,
        help="stimulus TOML (StimulusConfig keys, at top level or under [stimuli]); options below win",
    )
    p.add_argument("--levels", type=positive_int, help="number of log-spaced levels from 1%% to 100%% (default 11)")
    p.add_argument("--size", type=positive_int, help="stimulus side in pixels (default 256)")
    p.add_argument("--color", action="store_true", default=None, help="RGB stimuli instead of grayscale")
    p.add_argument(
        "--top-fraction",
        type=probability,
        help="budget = this top fraction of the first map's pixels (default: its non-zero pixels)",
    )
    p.add_argument("--temperature", type=positive_float, help="flood-fill temperature T (default 0.1)")
    p.add_argument("--importance-weight", type=nonnegative_float, help="flood-fill weight a of importance (default 1)")
    p.add_argument(
        "--distance-weight", type=nonnegative_float, help="flood-fill weight b of distance to the seed (default 1)"
    )
    p.add_argument(
        "--no-center", action="store_false", dest="center", default=None, help="do not center the revealed region"
    )
    p.add_argument("--feather", type=nonnegative_float, help="Gaussian sigma (px) of the mask edge; 0: hard (default)")
    p.add_argument("--seed", type=seed, help="seed of the scrambles and flood-fills (default 0)")
    add_progress(p)
    p.set_defaults(func=_build)


def _build(args) -> int:
    from stimuli.build import build_stimulus_set, load_stimulus_config

    maps = {args.name: args.maps}
    if args.maps_b is not None:
        if args.name_b == args.name:
            raise InputError(f"expected two different map source names, got {args.name!r} twice", field="--name-b")
        maps[args.name_b] = args.maps_b
    config = load_stimulus_config(
        args.config,
        n_levels=args.levels,
        size=args.size,
        color=args.color,
        top_fraction=args.top_fraction,
        importance_weight=args.importance_weight,
        distance_weight=args.distance_weight,
        temperature=args.temperature,
        center=args.center,
        feather=args.feather,
        seed=args.seed,
    )
    manifest = build_stimulus_set(
        args.images, maps, args.out, labels=args.labels, config=config, progress=not args.no_progress
    )
    n_images = manifest["image_id"].nunique()
    print(
        f"{len(manifest)} stimuli for {n_images} images ({', '.join(maps)}; {config.n_levels} levels + intact) "
        f"-> {args.out}/manifest.csv, assignment.csv, contact_sheets/"
    )
    return 0
