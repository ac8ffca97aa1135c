"""``clickme pack``, ``clickme train``, ``clickme score`` and ``clickme explain`` (heavy imports in
the handlers: every module that imports torch)."""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path

from clickme_analysis.cliargs import (
    add_progress,
    nonnegative_float,
    nonnegative_int,
    positive_float,
    positive_int,
    seed,
)
from clickme_analysis.errors import InputError
from clickme_analysis.reliability import PAPER_CEILING
from models.config import load_train_config, parse_sweep


def register(subparsers) -> None:
    """Add the model subcommands to the ``clickme`` parser."""
    for add in (_add_train, _add_pack, _add_score, _add_explain, register_alignment):
        add(subparsers)


def _add_train(subparsers) -> None:
    train = subparsers.add_parser(
        "train",
        help="train ResNet-50 / SE / GALA networks with ClickMe supervision",
        description="Train from a TOML configuration (docs/models.md); under torchrun, on every "
        "process with DistributedDataParallel.",
    )
    train.add_argument("--config", required=True, help="TOML configuration file")
    train.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one setting (TOML value syntax), repeatable",
    )
    train.add_argument(
        "--sweep", metavar="KEY=V1,V2,...", help="one run per value, scored on val, e.g. lambda=0,1,3,6,10"
    )
    train.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    train.add_argument("--seed", type=seed, help="override the configuration's seed")
    train.add_argument("--out", help="override the configuration's output folder")
    add_progress(train)
    train.set_defaults(func=_train)


def _add_pack(subparsers) -> None:
    pack = subparsers.add_parser(
        "pack",
        help="pack a dataset (and its maps) into WebDataset shards for streaming training",
        description="Image folder, CSV manifest or ClickMe TFRecords (either layout) -> tar shards "
        "in OUT (docs/models.md). Deterministic; rerun after a kill to resume.",
    )
    pack.add_argument("source", help="image folder, manifest .csv, .tfrecord(s) file, folder or glob (quoted)")
    pack.add_argument("--maps", help="map archive / store / folder keyed by image id")
    pack.add_argument("--out", required=True, help="output folder of the shards")
    pack.add_argument("--label-column", default="label", help="manifest column of the class")
    pack.add_argument(
        "--shard-size", type=positive_int, default=1000, help="samples per shard (folders, manifests; 1000)"
    )
    pack.add_argument("--workers", type=nonnegative_int, default=0, help="parallel processes (0: this process)")
    pack.add_argument(
        "--jpeg-quality",
        type=nonnegative_int,
        default=0,
        help="encode non-JPEG images as JPEG at this quality (0: keep them lossless)",
    )
    pack.add_argument(
        "--map-bits",
        type=int,
        choices=(8, 16),
        default=8,
        help="map quantisation (8: error <= range/510, 16: <= range/131070)",
    )
    add_progress(pack)
    pack.set_defaults(func=_pack)


def _add_score(subparsers) -> None:
    score = subparsers.add_parser(
        "score",
        help="top-1/top-5 accuracy and fraction of human ClickMe map variability",
        description="Score checkpoints on a dataset with human maps; writes a tidy CSV.",
    )
    score.add_argument(
        "--checkpoint",
        action="append",
        required=True,
        help="checkpoint (best.pt / last.pt), repeatable: one row per model",
    )
    score.add_argument("--data", required=True, help="folder, manifest .csv, .tfrecord(s) or 'synthetic'")
    score.add_argument("--maps", default="", help="map archive (.npz) keyed by image id")
    score.add_argument("--label-column", help="manifest column of the class (default: the checkpoint's, 'label')")
    score.add_argument("--layer", help="scored layer (default: last GALA / SE / conv4 block)")
    score.add_argument(
        "--ceiling",
        type=positive_float,
        help="human inter-rater rho (default: the paper's, clickme_analysis.reliability.PAPER_CEILING)",
    )
    score.add_argument("--permutations", type=positive_int, default=1000, help="permutations for p (1000)")
    score.add_argument("--batch-size", type=positive_int, default=32)
    score.add_argument("--seed", type=seed, default=0)
    score.add_argument("--out", required=True, help="summary CSV")
    score.add_argument("--per-image", help="also write per-image rows to this CSV")
    score.set_defaults(func=_score)


def _add_explain(subparsers) -> None:
    explain = subparsers.add_parser(
        "explain",
        help="SmoothGrad, gradient-delta and attention panels as PNGs",
        description="Explain a checkpoint's decisions on the first N images of a dataset.",
    )
    explain.add_argument("--checkpoint", required=True)
    explain.add_argument("--baseline", help="second checkpoint for the gradient delta (Fig. 4)")
    explain.add_argument("--data", required=True, help="folder, manifest .csv, .tfrecord(s) or 'synthetic'")
    explain.add_argument("--maps", default="")
    explain.add_argument("--n-images", type=positive_int, default=4)
    explain.add_argument("--samples", type=positive_int, default=25, help="SmoothGrad samples (25)")
    explain.add_argument(
        "--noise", type=nonnegative_float, default=0.15, help="noise SD as a fraction of the input range (0.15)"
    )
    explain.add_argument("--layer", help="attention layer (default: last GALA / SE / conv4 block)")
    explain.add_argument("--seed", type=seed, default=0)
    explain.add_argument("--out", required=True, help="output folder for the PNGs")
    explain.set_defaults(func=_explain)


def register_alignment(subparsers) -> None:
    """``clickme alignment``: any PyTorch image model against human maps and psychophysics."""
    alignment = subparsers.add_parser(
        "alignment",
        help="score any image model's importance maps against ClickMe maps; model "
        "psychophysics on a reveal stimulus set",
        description="Models: toolkit checkpoints, timm architectures with local weights, "
        "TorchScript files (nothing is downloaded). Writes per-image and summary CSVs, "
        "importance-map archives and, with --psychophysics, accuracy against percent "
        "revealed and psychometric thresholds (docs/models.md).",
    )
    _alignment_models(alignment)
    _alignment_scoring(alignment)
    _alignment_run(alignment)
    alignment.set_defaults(func=_alignment)


def _alignment_models(alignment) -> None:
    models = alignment.add_argument_group("models (repeatable, at least one)")
    models.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        metavar="[LABEL:]PATH",
        help="toolkit checkpoint (best.pt / last.pt)",
    )
    models.add_argument(
        "--timm",
        action="append",
        default=[],
        metavar="[LABEL:]NAME=WEIGHTS",
        help="timm architecture with a local state dict, e.g. resnet50=resnet50.pth",
    )
    models.add_argument(
        "--torchscript",
        action="append",
        default=[],
        metavar="[LABEL:]PATH",
        help="TorchScript file (torch.jit.save); ImageNet preprocessing at 224",
    )
    models.add_argument(
        "--harmonized-from",
        action="append",
        default=[],
        metavar="AFTER=BEFORE",
        help="model AFTER is model BEFORE after harmonization (names as in the model column); the "
        "report draws an arrow from BEFORE to AFTER (repeatable)",
    )


def _alignment_scoring(alignment) -> None:
    """The maps, labels, human reference and importance-map options."""
    alignment.add_argument("--images", help="folder of images named <image_id>.<ext>")
    alignment.add_argument("--maps", help="human maps: map archive, HDF5 map file or folder")
    alignment.add_argument(
        "--labels", help="CSV image_id,label (class index, ImageNet WordNet id or name; empty = unknown)"
    )
    alignment.add_argument(
        "--clicks",
        help="click log of the maps' participants: human ceiling and "
        "null from it (default: the paper's inter-rater values, "
        "clickme_analysis.reliability.PAPER_CEILING and PAPER_NULL)",
    )
    alignment.add_argument("--ceiling", type=positive_float, help="explicit human ceiling rho")
    alignment.add_argument(
        "--method",
        action="append",
        default=[],
        help="Saliency, SmoothGrad, IntegratedGradients, GradientShap, "
        "LayerGradCam, Occlusion, GALA (repeatable; default Saliency, "
        "SmoothGrad, IntegratedGradients, + GALA for GALA networks)",
    )
    alignment.add_argument(
        "--layer", help="LayerGradCam / GALA layer (default: the last (N, C, H, W) block / the last GALA gate)"
    )
    alignment.add_argument("--samples", type=positive_int, default=50, help="SmoothGrad / GradientShap samples (50)")
    alignment.add_argument(
        "--noise",
        type=nonnegative_float,
        default=0.15,
        help="SmoothGrad noise SD as a fraction of the input range (0.15)",
    )
    alignment.add_argument("--steps", type=positive_int, default=32, help="IntegratedGradients steps (32)")
    alignment.add_argument("--window", type=positive_int, help="Occlusion window side (input side / 8)")
    alignment.add_argument("--score-size", type=positive_int, default=64, help="maps compared on a SxS grid (64)")
    alignment.add_argument(
        "--model-blur", type=nonnegative_float, default=0.0, help="Gaussian sigma on model maps, score pixels (0: none)"
    )
    alignment.add_argument(
        "--human-blur", type=nonnegative_float, default=0.0, help="Gaussian sigma on human maps, score pixels (0: none)"
    )
    alignment.add_argument("--input-size", type=positive_int, help="override every model's input side (recorded)")


def _alignment_run(alignment) -> None:
    """Psychophysics, batch, bootstrap, device and output options."""
    alignment.add_argument(
        "--psychophysics",
        metavar="STIMULUS_SET",
        help="folder written by `clickme stimuli build` (manifest.csv + PNGs)",
    )
    alignment.add_argument(
        "--readout", help="imagenet_animals | class:K (default: imagenet_animals for 1000 classes, class:0 for 2)"
    )
    alignment.add_argument(
        "--human",
        metavar="ANALYSIS_DIR",
        help="`clickme experiment analyze` output: human thresholds beside the models'",
    )
    alignment.add_argument("--batch-size", type=positive_int, default=16)
    alignment.add_argument("--boot", type=positive_int, default=1000, help="bootstrap resamples (1000)")
    alignment.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    alignment.add_argument(
        "--amp",
        choices=("auto", "none", "bf16", "fp16"),
        default="auto",
        help="autocast (auto: bf16 on CUDA, none on CPU)",
    )
    alignment.add_argument("--seed", type=seed, default=0)
    add_progress(alignment)
    alignment.add_argument("--out", required=True, help="output folder")


def _overrides(pairs: list[str]) -> dict:
    values = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise InputError(f"expected KEY=VALUE, got {pair!r}", field="--set")
        try:
            values[key.strip()] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            values[key.strip()] = value
    return values


def _pairs(texts: list[str], option: str) -> dict[str, str]:
    """``["A=B", ...]`` -> ``{"A": "B", ...}`` (a located error without ``=``)."""
    pairs = {}
    for text in texts:
        after, sep, before = text.partition("=")
        if not (sep and after.strip() and before.strip()):
            raise InputError(f"expected AFTER=BEFORE, got {text!r}", field=option)
        pairs[after.strip()] = before.strip()
    return pairs


def _train(args: argparse.Namespace) -> int:
    from models.train import sweep, train

    config = load_train_config(args.config)
    changes = _overrides(args.set)
    if args.seed is not None:
        changes["seed"] = args.seed
    if args.out:
        changes["out"] = args.out
    if args.no_progress:
        changes["progress"] = False
    config = config.replace(**changes)
    if args.sweep:
        key, values = parse_sweep(args.sweep)
        table = sweep(config, key, values, resume=args.resume)
        print(table.to_string(index=False))
        return 0
    result = train(config, resume=args.resume)
    best = (
        f"best val accuracy {result['best']:.4f}"
        if config.val
        else 'no validation set (val = ""), best.pt holds the last weights'
    )
    print(f"{result['status']}: {result['epoch']} epochs, {best}, checkpoints in {result['out']}")
    return 0 if result["status"] == "finished" else 143


def _pack(args: argparse.Namespace) -> int:
    from models.shards import pack

    index = pack(
        args.source,
        args.out,
        maps=args.maps,
        label_column=args.label_column,
        shard_size=args.shard_size,
        workers=args.workers,
        jpeg_quality=args.jpeg_quality,
        map_bits=args.map_bits,
        progress=not args.no_progress,
    )
    print(
        f"packed {index['n_samples']} images ({index['n_maps']} with a map) into "
        f"{len(index['shards'])} shards in {args.out}"
    )
    if index["skipped"]:
        print(f"skipped {len(index['skipped'])} (all listed in {args.out}/index.json):")
        for item in index["skipped"][:10]:
            print(f"  {item['image_id']}: {item['reason']}")
    return 0


def _score(args: argparse.Namespace) -> int:
    from models.score import score_checkpoints

    table, per_image = score_checkpoints(
        args.checkpoint,
        args.data,
        maps=args.maps,
        label_column=args.label_column,
        layer=args.layer,
        batch_size=args.batch_size,
        ceiling=PAPER_CEILING if args.ceiling is None else args.ceiling,
        n_permutations=args.permutations,
        seed=args.seed,
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    if args.per_image:
        per_image.to_csv(args.per_image, index=False)
    print(table.to_string(index=False))
    return 0


def _explain(args: argparse.Namespace) -> int:
    import torch

    from models.checkpoint import model_from_checkpoint
    from models.data import make_dataset
    from models.explain import explain

    model, config = model_from_checkpoint(args.checkpoint)
    baseline = model_from_checkpoint(args.baseline)[0] if args.baseline else None
    dataset = make_dataset(config, args.data, args.maps)
    items = [dataset[i] for i in range(min(args.n_images, len(dataset)))]
    images = torch.stack([item["image"] for item in items])
    maps = torch.stack([item["map"] for item in items])
    paths = explain(
        model,
        images,
        args.out,
        maps,
        baseline,
        layer=args.layer,
        noise_fraction=args.noise,
        n_samples=args.samples,
        seed=args.seed,
    )
    for path in paths:
        print(path)
    return 0


def _alignment(args: argparse.Namespace) -> int:
    from models.alignment import run_alignment
    from models.alignment_loading import load_model
    from models.alignment_scoring import DEFAULT_METHODS, AlignmentOptions

    specs = (
        [("checkpoint", s) for s in args.checkpoint]
        + [("timm", s) for s in args.timm]
        + [("torchscript", s) for s in args.torchscript]
    )
    if not specs:
        raise InputError("expected at least one model (--checkpoint, --timm or --torchscript)", field="--timm")
    models = [load_model(kind, spec, input_size=args.input_size) for kind, spec in specs]
    options = AlignmentOptions(
        methods=tuple(args.method) or DEFAULT_METHODS,
        score_size=args.score_size,
        model_blur=args.model_blur,
        human_blur=args.human_blur,
        layer=args.layer,
        n_samples=args.samples,
        noise_fraction=args.noise,
        n_steps=args.steps,
        window=args.window,
        batch_size=args.batch_size,
        n_boot=args.boot,
        seed=args.seed,
        device=args.device,
        amp=args.amp,
        progress=not args.no_progress,
    )
    paths = run_alignment(
        models,
        args.out,
        images=args.images,
        maps=args.maps,
        labels=args.labels,
        clicks=args.clicks,
        ceiling=args.ceiling,
        psychophysics=args.psychophysics,
        human=args.human,
        readout=args.readout,
        harmonized_from=_pairs(args.harmonized_from, "--harmonized-from"),
        options=options,
    )
    for path in paths:
        print(path)
    return 0
