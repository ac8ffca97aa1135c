"""Any PyTorch image model against humans: ``clickme alignment`` and the demo's alignment stage.

:func:`run_alignment` loads nothing itself: it takes models from
:mod:`models.alignment_loading` (checkpoint, timm, TorchScript), scores them against human maps
with :mod:`models.alignment_scoring` and runs them through a stimulus set with
:mod:`models.alignment_psychophysics`, then writes the tables and a record of every setting
(docs/outputs.md).
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
import torch

from clickme_analysis.archive import open_maps
from clickme_analysis.clicklog import read_clicks
from clickme_analysis.errors import InputError
from clickme_analysis.fileio import atomic_write_text, collect_files, read_table
from clickme_analysis.ids import image_ids
from models.alignment_loading import LoadedModel, load_checkpoint_model, load_timm_model
from models.alignment_psychophysics import model_psychophysics, psychophysics_tables, threshold_table
from models.alignment_scoring import (
    AlignmentOptions,
    human_reference,
    imagenet_lookup,
    read_label_table,
    score_alignment,
)
from models.decode import IMAGE_SUFFIXES
from models.readout import readout_from_name


def image_files(folder) -> dict[str, Path]:
    """Image id -> file for the images in ``folder`` (ids by :func:`clickme_analysis.ids.image_ids`)."""
    files = collect_files(folder, IMAGE_SUFFIXES, what="images")
    return dict(zip(image_ids(files), files))


def check_harmonized_from(pairs: Mapping[str, str], names: Sequence[str]) -> dict[str, str]:
    """``AFTER -> BEFORE`` model names, both among ``names`` and not the same model.

    Examples
    --------
    >>> check_harmonized_from({"b": "a"}, ["a", "b"])
    {'b': 'a'}
    """
    for after, before in pairs.items():
        for name in (after, before):
            if name not in names:
                raise InputError(
                    f"--harmonized-from {after}={before}: no model named {name!r} (models: {list(names)})",
                    field="--harmonized-from",
                )
        if after == before:
            raise InputError(
                f"--harmonized-from {after}={before}: a model is not its own before", field="--harmonized-from"
            )
    return dict(pairs)


def run_alignment(
    models: Sequence[LoadedModel],
    out_dir,
    *,
    images=None,
    maps=None,
    labels=None,
    clicks=None,
    ceiling: float | None = None,
    psychophysics=None,
    human=None,
    readout: str | None = None,
    psychophysics_models: Sequence[str] | None = None,
    labelled_models: Sequence[str] | None = None,
    harmonized_from: Mapping[str, str] | None = None,
    options: AlignmentOptions | None = None,
) -> list[Path]:
    """Score ``models`` and/or run them through a stimulus set; write the outputs to ``out_dir``.

    Writes (docs/outputs.md): ``alignment_per_image.csv``, ``alignment_summary.csv``,
    ``importance_maps/<model>__<method>.npz`` (with ``images`` and ``maps``);
    ``psychophysics_trials.csv``, ``psychophysics_accuracy.csv``, ``psychophysics_params.csv``,
    ``psychophysics_curve.csv`` and, with ``human`` (an experiment analysis folder),
    ``thresholds.csv`` (with ``psychophysics``); ``alignment_config.json`` always.
    ``psychophysics_models`` and ``labelled_models`` (names) limit the psychophysics and the
    labels to some of the models. ``harmonized_from`` maps a model's name to the name of the same
    network before harmonization (or map supervision): the summary's ``harmonized_from`` column,
    drawn by the report as an arrow from before to after.

    Returns
    -------
    list of Path
        The files written.
    """
    if (images is None) != (maps is None):
        raise InputError("alignment needs both --images and --maps", field="--images" if images is None else "--maps")
    if images is None and psychophysics is None:
        raise InputError(
            "nothing to do: give --images and --maps (alignment), --psychophysics, or both", field="--images"
        )
    options = options or AlignmentOptions()
    harmonized_from = check_harmonized_from(harmonized_from or {}, [m.name for m in models])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    record = {
        "models": [m.record() for m in models],
        "options": dataclasses.asdict(options),
        "device": options.resolved_device(),
        "amp": options.resolved_amp(),
        "harmonized_from": harmonized_from,
    }
    if images is not None:
        written += _write_alignment(
            models,
            out,
            record,
            images=images,
            maps=maps,
            labels=labels,
            clicks=clicks,
            ceiling=ceiling,
            labelled_models=labelled_models,
            harmonized_from=harmonized_from,
            options=options,
        )
    if psychophysics is not None:
        chosen = [m for m in models if psychophysics_models is None or m.name in psychophysics_models]
        written += _write_psychophysics(
            chosen, out, record, psychophysics=psychophysics, human=human, readout=readout, options=options
        )
    atomic_write_text(out / "alignment_config.json", json.dumps(record, indent=2, default=str))
    return written + [out / "alignment_config.json"]


def _write_alignment(
    models: Sequence[LoadedModel],
    out: Path,
    record: dict,
    *,
    images,
    maps,
    labels,
    clicks,
    ceiling: float | None,
    labelled_models: Sequence[str] | None,
    harmonized_from: Mapping[str, str],
    options: AlignmentOptions,
) -> list[Path]:
    """Score the models against the human maps; write the tables and maps, fill ``record``."""
    files = image_files(images)
    text, lines = read_label_table(labels) if labels is not None else (None, None)
    click_table = read_clicks(clicks).clicks if clicks is not None else None
    with open_maps(maps) as human_maps, warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)  # partial id matches are recorded
        reference = human_reference(
            click_table, list(human_maps.keys()), ceiling=ceiling, seed=options.seed, progress=options.progress
        )
        per_image, summary = score_alignment(
            models,
            files,
            human_maps,
            text,
            options=options,
            reference=reference,
            archive_dir=out / "importance_maps",
            label_path=labels,
            label_lines=lines,
            labelled_models=labelled_models,
        )
    summary["harmonized_from"] = summary["model"].map(harmonized_from).astype(object).fillna("")
    per_image.to_csv(out / "alignment_per_image.csv", index=False)
    summary.to_csv(out / "alignment_summary.csv", index=False)
    record.update(
        images=str(images),
        maps=str(maps),
        labels=str(labels) if labels else None,
        clicks=str(clicks) if clicks else None,
        reference=reference,
        n_images_scored=int(per_image["image_id"].nunique()),
        protocol="whole image resized to each model's input size; model and human maps "
        f"resized to {options.score_size}x{options.score_size} (antialiased "
        f"bilinear), Gaussian blur sigma {options.model_blur} (model) / "
        f"{options.human_blur} (human) score pixels, Spearman over pixels "
        "(average ranks); fraction_of_human = mean rho / ceiling",
    )
    return [out / "alignment_per_image.csv", out / "alignment_summary.csv"] + sorted(
        (out / "importance_maps").glob("*.npz")
    )


def _write_psychophysics(
    models: Sequence[LoadedModel],
    out: Path,
    record: dict,
    *,
    psychophysics,
    human,
    readout: str | None,
    options: AlignmentOptions,
) -> list[Path]:
    """Run the models through the stimulus set; write the tables (and thresholds beside the
    humans'), fill ``record``."""
    readouts = {m.name: readout_from_name(readout, m.num_classes) for m in models} if readout else None
    rows = model_psychophysics(models, psychophysics, readouts, options)
    tables = psychophysics_tables(rows, n_boot=min(200, options.n_boot), seed=options.seed, progress=options.progress)
    rows.to_csv(out / "psychophysics_trials.csv", index=False)
    for name in ("accuracy", "params", "curve"):
        tables[name].to_csv(out / f"psychophysics_{name}.csv", index=False)
    written = [out / f"psychophysics_{n}.csv" for n in ("trials", "accuracy", "params", "curve")]
    if human is not None:
        params = read_table(
            Path(human) / "psychometric_params.csv",
            ["group", "threshold", "threshold_ci_low", "threshold_ci_high"],
            "human psychometric parameters",
        )
        threshold_table(tables["params"], params).to_csv(out / "thresholds.csv", index=False)
        written.append(out / "thresholds.csv")
    record.update(
        psychophysics=str(psychophysics),
        readouts=sorted(set(rows["readout"])),
        decision="animal when P(animal) > 0.5",
        psychometric="logistic, guess 0.5, images as participants (bootstrap over images)",
    )
    return written


# ----------------------------------------------------------------------------- demo
#: Demo labels (clickme_analysis.synthetic) that are not ImageNet class names, and the class used.
DEMO_IMAGENET_ALIASES = {"horse": "sorrel"}


def demo_harmonized_from(names: Sequence[str]) -> dict[str, str]:
    """The demo's before -> after pair: the GALA network trained with maps (``gala_clickme``)
    after the same network trained without (``gala``), when both were scored.

    Examples
    --------
    >>> demo_harmonized_from(["resnet18 (random weights)", "gala (toolkit)", "gala_clickme (toolkit)"])
    {'gala_clickme (toolkit)': 'gala (toolkit)'}
    >>> demo_harmonized_from(["gala_clickme (toolkit)"])
    {}
    """
    before, after = "gala (toolkit)", "gala_clickme (toolkit)"
    return {after: before} if before in names and after in names else {}


def run_demo(root, seed: int = 0, progress: bool = True) -> list[Path]:
    """The demo's alignment stage: write ``root/alignment`` (docs/outputs.md).

    Scores a timm ResNet-18 with seeded random weights (saved to
    ``alignment/weights/resnet18_random.pth`` and loaded as a user's weights file would be: no
    download) and the models stage's GALA checkpoint (``models/runs/gala_clickme/best.pt``,
    trained on the synthetic task), and ``gala`` (the same network trained without maps: the
    report's before -> after arrow) against the demo's ClickMe maps, with the ceiling and null
    from the demo's click log; runs the ResNet-18 (ImageNet animal readout) and every 2-class
    toolkit checkpoint under ``models/runs`` (class readout) through the demo's stimuli, beside
    the simulated participants. Random weights make this a check of the machinery, not a result.
    """
    root = Path(root)
    clickme, out = root / "clickme", root / "alignment"
    for path in (clickme / "images", clickme / "maps.npz"):
        if not path.exists():
            raise InputError("missing input of the alignment demo stage (run the clickme stage first)", path=path)
    (out / "weights").mkdir(parents=True, exist_ok=True)
    import timm

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.save(
            timm.create_model("resnet18", pretrained=False).state_dict(), out / "weights" / "resnet18_random.pth"
        )
    models = [
        load_timm_model(
            "resnet18", out / "weights" / "resnet18_random.pth", input_size=64, label="resnet18 (random weights)"
        )
    ]
    psychophysics_models = [models[0].name]
    for checkpoint in sorted((root / "models" / "runs").glob("*/best.pt")):
        model = load_checkpoint_model(checkpoint, label=f"{checkpoint.parent.name} (toolkit)")
        if checkpoint.parent.name in ("gala", "gala_clickme") or model.num_classes == 2:
            models.append(model)
        if model.num_classes == 2:
            psychophysics_models.append(model.name)
    labels = None
    if (clickme / "labels.csv").is_file():
        text, _ = read_label_table(clickme / "labels.csv")
        lookup = imagenet_lookup()
        names = {i: DEMO_IMAGENET_ALIASES.get(v, v) for i, v in text.items()}
        labels = out / "imagenet_labels.csv"
        pd.DataFrame(
            {"image_id": list(names), "label": [v if v.lower() in lookup else "" for v in names.values()]}
        ).to_csv(labels, index=False)
    options = AlignmentOptions(
        methods=("saliency", "smoothgrad", "integrated_gradients", "layer_gradcam"),
        n_samples=8,
        n_steps=8,
        seed=seed,
        progress=progress,
    )
    harmonized_from = demo_harmonized_from([m.name for m in models])
    stimuli = root / "stimuli" / "manifest.csv"
    experiment = root / "experiment" / "psychometric_params.csv"
    # labels belong to the ImageNet model only: the toolkit checkpoints' classes are others
    return run_alignment(
        models,
        out,
        images=clickme / "images",
        maps=clickme / "maps.npz",
        labels=labels,
        clicks=clickme / "clicks.csv" if (clickme / "clicks.csv").is_file() else None,
        psychophysics=stimuli.parent if stimuli.is_file() else None,
        human=experiment.parent if experiment.is_file() else None,
        psychophysics_models=psychophysics_models,
        labelled_models=[models[0].name],
        harmonized_from=harmonized_from,
        options=options,
    )
