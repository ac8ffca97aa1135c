"""Report section "Models": scores, the lambda sweep, training curves, attention maps, explain panels."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from clickme_analysis.errors import InputError
from clickme_analysis.npz_log import load_npz
from reports import figures, panels, tables
from reports.inputs import N_EXAMPLES, image_labels, need, read_image, read_output
from reports.parts import Item


def model_scores(root: Path) -> list[Item]:
    frame = read_output(
        root / "models" / "scores.csv",
        ["model", "top1_accuracy", "top5_accuracy", "fraction_of_human"],
        ["top1_accuracy", "top5_accuracy", "fraction_of_human", "rho_mean", "p_value"],
    )
    return [
        Item(
            "model_scores",
            "Models",
            "Top-1 and top-5 error and the fraction of human ClickMe map variability "
            "explained by each model's attention (paper Tables 1-4).",
            tables.model_table(frame),
        )
    ]


def lambda_sweep(root: Path) -> list[Item]:
    columns = ["lambda", "top1_accuracy", "fraction_of_human", "ceiling", "null"]
    frame = read_output(root / "models" / "sweep.csv", columns, columns)
    return [
        Item(
            "lambda_sweep",
            "Lambda sweep",
            "Top-1 accuracy (A) and fraction of human map variability (B) against the "
            "weight lambda of the ClickMe map loss; dashed: the human inter-rater ceiling, "
            "dotted: the null floor.",
            figures.lambda_sweep(frame),
        )
    ]


def training_curves(root: Path) -> list[Item]:
    frame = read_output(
        root / "models" / "curves.csv",
        ["run", "epoch", "split", "accuracy", "map_alignment"],
        ["epoch", "accuracy", "map_alignment"],
    )
    return [
        Item(
            "training_curves",
            "Training curves",
            "Accuracy and map alignment over epochs per run (solid: train, dashed: held out).",
            figures.training_curves(frame),
        )
    ]


#: Members of ``models/attention.npz`` that are not a model's attention maps.
_ATTENTION_RESERVED = {"image_ids", "images", "human_maps"}


def _display_images(images: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) or (N, 3, H, W) images -> (N, H, W, 3) in [0, 1] for display.

    Images outside [0, 1] (e.g. normalised network inputs) are min-max rescaled per image.
    """
    try:
        images = np.asarray(images, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"expected numeric images, got {np.asarray(images).dtype}", field="images") from None
    if images.ndim == 4 and images.shape[1] in (1, 3) and images.shape[-1] not in (1, 3):
        images = images.transpose(0, 2, 3, 1)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim not in (3, 4):
        raise InputError(f"expected images (N, H, W, 3) or (N, 3, H, W), got {images.shape}", field="images")
    if images.size and (images.min() < 0 or images.max() > 1):
        low = images.min(axis=tuple(range(1, images.ndim)), keepdims=True)
        high = images.max(axis=tuple(range(1, images.ndim)), keepdims=True)
        images = (images - low) / np.where(high > low, high - low, 1)
    return images


def attention(root: Path) -> list[Item]:
    """``models/attention.npz``: ``images``, optional ``image_ids`` and ``human_maps``, one
    (N, h, w) member per model (``<model>`` or ``attention/<model>``) and optionally
    ``smoothgrad/<model>`` for two models."""
    path = need(root / "models" / "attention.npz")
    arrays = load_npz(path)
    smoothgrad = {name.split("/", 1)[1]: arrays.pop(name) for name in list(arrays) if name.startswith("smoothgrad/")}
    attention = {
        name.removeprefix("attention/"): array for name, array in arrays.items() if name not in _ATTENTION_RESERVED
    }
    if not attention:
        raise InputError("expected at least one (N, h, w) member of model attention maps", path=path, field="attention")
    maps = {**attention, **smoothgrad, **{k: arrays[k] for k in ("human_maps",) if k in arrays}}
    first = next(iter(attention.values()))
    n = len(first) if first.ndim == 3 else -1
    for name, array in maps.items():
        if array.ndim != 3 or len(array) != n or not np.issubdtype(array.dtype, np.number):
            expected = f"(N, h, w) numeric maps with N = {n}" if n >= 0 else "(N, h, w) numeric maps"
            raise InputError(
                f"expected {expected} for every model, got {array.dtype} {array.shape}", path=path, field=name
            )
    ids = (
        [str(i) for i in arrays["image_ids"].ravel()] if "image_ids" in arrays else [f"image {k + 1}" for k in range(n)]
    )
    if len(ids) != n:
        raise InputError(f"expected {n} image ids (one per map), got {len(ids)}", path=path, field="image_ids")
    shown = ids[:N_EXAMPLES]
    if "images" in arrays:
        try:
            images = dict(zip(ids, _display_images(arrays["images"])))
        except InputError as err:
            raise InputError(err.message, path=path, field="images") from None
        if len(images) != n:
            raise InputError(
                f"expected {n} images (one per map), got {len(arrays['images'])}", path=path, field="images"
            )
    else:
        images = {i: read_image(root / "clickme" / "images" / f"{i}.png") for i in shown}
    rows = {"ClickMe map": dict(zip(ids, arrays["human_maps"]))} if "human_maps" in arrays else {}
    rows.update({name: dict(zip(ids, maps)) for name, maps in attention.items()})
    smoothgrad = {name: dict(zip(ids, maps)) for name, maps in smoothgrad.items()}
    fig = panels.attention_panels(
        {i: images[i] for i in shown}, rows, smoothgrad if len(smoothgrad) == 2 else None, titles=image_labels(root)
    )
    caption = "Attention maps of each model over the images (each map divided by its maximum)" + (
        "; first map row: the ClickMe map" if "human_maps" in arrays else ""
    )
    if len(smoothgrad) == 2:
        first, second = smoothgrad
        caption += (
            f"; bottom row: SmoothGrad of {second} minus SmoothGrad of {first}, each "
            "divided by its largest absolute value (red: larger for the former)"
        )
    return [Item("attention_maps", "Attention maps", caption + " (paper Fig. 4 style).", fig)]


#: What each panel ``clickme explain`` writes shows (models/explain.py: ``explain``,
#: ``save_panels``): one row per image; columns the image, the ClickMe map when given, then
#: the maps named in each column title.
EXPLAIN_PANELS = {
    "smoothgrad": "SmoothGrad of each model (mean absolute input gradient of the explained "
    "class over noisy copies of the image, largest over colour channels)",
    "attention": "the attention map of each model (column-wise L2 norm of the last attention "
    "layer's activity, upsampled to the image)",
    "gradient_delta": "SmoothGrad of each model and their difference (each divided by its "
    "maximum, first minus second model; diverging colours, symmetric about 0)",
}


def explain_pngs(root: Path) -> list[Item]:
    """Panels ``clickme explain`` saved as PNG (optional: none is not a missing part)."""
    folder = root / "models" / "explain"
    paths = sorted(folder.glob("*.png")) if folder.is_dir() else []
    items = []
    for path in paths:
        shows = EXPLAIN_PANELS.get(path.stem)
        caption = (
            f"One row per image: the image, the human (ClickMe) map when one was given, then {shows}; "
            "each map on its own colour scale, given by the bar beside it (written by "
            f"`clickme explain`: models/explain/{path.name})."
            if shows
            else f"A panel found in models/explain/ ({path.name}); the report does not know what it shows."
        )
        items.append(
            Item(
                f"explain_{re.sub(r'[^A-Za-z0-9_.-]', '_', path.stem)}",
                path.stem.replace("_", " ").capitalize(),
                caption,
                need(path).read_bytes(),
            )
        )
    return items
