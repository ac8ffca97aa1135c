"""``clickme stimuli build``: reveal stimulus sets from images and map archives."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers) -> None:
    """Add ``clickme stimuli`` and its subcommands to the ``clickme`` parser."""
    stimuli = subparsers.add_parser("stimuli", help="reveal stimuli for rapid categorisation")
    commands = stimuli.add_subparsers(dest="stimuli_command", required=True, metavar="SUBCOMMAND")
    p = commands.add_parser(
        "build", help="log-spaced reveal levels over a phase-scrambled background, manifest, Latin square",
        description="Write PNG stimuli revealing 1%..100% of each image's most important pixels "
                    "(stochastic flood-fill of its map over a phase scramble), the intact images, "
                    "manifest.csv, assignment.csv and contact sheets.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--images", type=Path, required=True, help="folder of <image_id>.png|.jpg|.jpeg")
    p.add_argument("--maps", type=Path, required=True,
                   help="map archive (.npz) of the first source; its images form the set and set the budget")
    p.add_argument("--maps-b", type=Path, help="map archive of a second source, revealed with the same budget")
    p.add_argument("--name", default="clickme", help="map_source name of --maps")
    p.add_argument("--name-b", default="saliency", help="map_source name of --maps-b")
    p.add_argument("--labels", type=Path, help="labels.csv: image_id, label, category (animal / non-animal)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--levels", type=int, default=11, help="number of log-spaced levels from 1%% to 100%%")
    p.add_argument("--size", type=int, default=256, help="stimulus side in pixels")
    p.add_argument("--color", action="store_true", help="RGB stimuli instead of grayscale")
    p.add_argument("--top-fraction", type=float,
                   help="budget = this top fraction of the first map's pixels (default: its non-zero pixels)")
    p.add_argument("--temperature", type=float, default=0.1, help="flood-fill temperature T")
    p.add_argument("--importance-weight", type=float, default=1.0, help="flood-fill weight a of importance")
    p.add_argument("--distance-weight", type=float, default=1.0, help="flood-fill weight b of distance to the seed")
    p.add_argument("--no-center", action="store_true", help="do not centre the revealed region")
    p.add_argument("--feather", type=float, default=0.0, help="Gaussian sigma (px) of the mask edge; 0: hard")
    p.add_argument("--seed", type=int, default=0, help="seed of the scrambles and flood-fills")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=_build)


def _build(args) -> int:
    from clickme_analysis.errors import InputError
    from stimuli.build import StimulusConfig, build_stimulus_set

    maps = {args.name: args.maps}
    if args.maps_b is not None:
        if args.name_b == args.name:
            raise InputError(f"expected two different map source names, got {args.name!r} twice", field="--name-b")
        maps[args.name_b] = args.maps_b
    config = StimulusConfig(n_levels=args.levels, size=args.size, color=args.color,
                            top_fraction=args.top_fraction, importance_weight=args.importance_weight,
                            distance_weight=args.distance_weight, temperature=args.temperature,
                            center=not args.no_center, feather=args.feather, seed=args.seed)
    manifest = build_stimulus_set(args.images, maps, args.out, labels=args.labels, config=config,
                                  progress=not args.no_progress)
    n_images = manifest["image_id"].nunique()
    print(f"{len(manifest)} stimuli for {n_images} images ({', '.join(maps)}; {args.levels} levels + intact) "
          f"-> {args.out}/manifest.csv, assignment.csv, contact_sheets/")
    return 0
