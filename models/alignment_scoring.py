"""ClickMe alignment of any model: importance maps against human maps, and accuracy on the same images.

Alignment (:func:`score_alignment`), per image and importance-map method
(:data:`models.explain.METHODS`): the model explains the labelled class (its prediction when
the label is unknown) on the whole image resized to its input size; its map and the human map
are resized to ``score_size`` x ``score_size`` (antialiased bilinear), optionally Gaussian
blurred, and compared by Spearman's rho (:func:`clickme_analysis.ranks.spearman_rows`).
The mean rho over images, divided by the human ceiling, is ``fraction_of_human`` (the paper's
"fraction of human ClickMe map variability", the column ``clickme score`` writes too), with a
percentile bootstrap interval over images; top-1 / top-5 accuracy is taken on the same images.
docs/models.md states where this follows the Harmonization protocol (Fel et al. 2022) and where it differs. Labels
(:func:`resolve_labels`) are class indices, or ImageNet WordNet ids / class names.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter

from clickme_analysis.archive import MapWriter
from clickme_analysis.errors import InputError
from clickme_analysis.ids import match_ids
from clickme_analysis.labels import read_labels
from clickme_analysis.progress import progress as progress_bar
from clickme_analysis.ranks import spearman_rows
from clickme_analysis.reliability import (
    PAPER_CEILING,
    PAPER_NULL,
    bootstrap_mean_ci,
    fraction_of_human_variability,
    inter_rater_reliability,
)
from clickme_analysis.shapes import check_aspect, skip_empty
from models.alignment_loading import LoadedModel
from models.decode import read_image
from models.explain import autocast, importance_maps, method_name
from models.map_ops import square_maps, unit_max
from models.score import human_score

#: Methods scored when none are named (plus ``gala`` for GALA networks).
DEFAULT_METHODS = ("saliency", "smoothgrad", "integrated_gradients")
#: The per-image columns of :func:`score_alignment`.
PER_IMAGE_COLUMNS = [
    "model",
    "method",
    "image_id",
    "rho",
    "label",
    "target",
    "prediction",
    "top1_correct",
    "top5_correct",
]


# ----------------------------------------------------------------------------- labels
def imagenet_lookup() -> dict[str, int]:
    """Lower-case ImageNet class names and WordNet lemmas -> class index (timm's ImageNetInfo)."""
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    lookup = {}
    for i in range(info.num_classes()):
        lookup[info.index_to_label_name(i).lower()] = i
        for lemma in info.index_to_description(i).split(","):
            lookup.setdefault(lemma.strip().lower(), i)
    return lookup


def resolve_labels(
    labels: Mapping[str, str], num_classes: int, path=None, lines: Mapping[str, int] | None = None
) -> dict[str, int]:
    """Image id -> class index for a model with ``num_classes`` outputs.

    A label is a class index, or for 1000-class models an ImageNet WordNet id (``n02123045``)
    or class name (``tabby``); an empty label is unknown (left out of accuracy). Anything else,
    or an index outside ``0..num_classes-1``, is an :class:`InputError` naming the file and line.

    Examples
    --------
    >>> resolve_labels({"a": "1", "b": ""}, 2)
    {'a': 1}
    """
    out, lookup = {}, None
    for image_id, label in labels.items():
        text = str(label).strip()
        if not text:
            continue
        if re.fullmatch(r"-?\d+", text):
            index = int(text)
        elif num_classes == 1000:
            lookup = lookup or imagenet_lookup()
            index = lookup.get(text.lower(), -1)
            if index < 0:
                close = difflib.get_close_matches(text.lower(), lookup, n=5, cutoff=0.6)
                hint = f"; close matches: {', '.join(close)}" if close else "; no close match"
                raise InputError(
                    f"label {text!r} of image {image_id!r} is no ImageNet class index, WordNet id or class name{hint}",
                    path=path,
                    line=(lines or {}).get(image_id),
                    field="label",
                )
        else:
            raise InputError(
                f"label {text!r} of image {image_id!r}: expected a class index 0-{num_classes - 1}",
                path=path,
                line=(lines or {}).get(image_id),
                field="label",
            )
        if not 0 <= index < num_classes:
            raise InputError(
                f"label {index} of image {image_id!r} is outside the model's classes 0-{num_classes - 1}",
                path=path,
                line=(lines or {}).get(image_id),
                field="label",
            )
        out[image_id] = index
    return out


def read_label_table(path) -> tuple[dict[str, str], dict[str, int]]:
    """:func:`clickme_analysis.labels.read_labels` as (id -> label text, id -> file line)."""
    table = read_labels(path)
    return dict(zip(table["image_id"], table["label"])), dict(zip(table["image_id"], table["line"].astype(int)))


# ----------------------------------------------------------------------------- scoring
@dataclass(frozen=True)
class AlignmentOptions:
    """Map comparison and attribution settings (defaults documented in docs/models.md)."""

    methods: tuple[str, ...] = DEFAULT_METHODS
    score_size: int = 64  # maps compared on a score_size x score_size grid
    model_blur: float = 0.0  # Gaussian sigma (score pixels) on model maps; 0: none
    human_blur: float = 0.0  # Gaussian sigma on human maps (archive maps are blurred)
    layer: str | None = None  # LayerGradCam / GALA layer
    n_samples: int = 50  # SmoothGrad / GradientShap samples
    noise_fraction: float = 0.15  # SmoothGrad noise SD / input range
    n_steps: int = 32  # integrated-gradients steps
    window: int | None = None  # occlusion window (default input side / 8)
    batch_size: int = 16  # images per batch; inputs per attribution pass
    n_boot: int = 1000
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    amp: str = "auto"  # auto (bf16 on CUDA, none on CPU) | none | bf16 | fp16
    progress: bool = True

    def resolved_device(self) -> str:
        if self.device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        if self.device not in ("cpu", "cuda"):
            raise InputError(f"expected device auto, cpu or cuda, got {self.device!r}", field="device")
        return self.device

    def resolved_amp(self) -> str:
        if self.amp == "auto":
            return "bf16" if self.resolved_device() == "cuda" else "none"
        return self.amp


def _blur(maps: np.ndarray, sigma: float) -> np.ndarray:
    if sigma <= 0:
        return maps
    return np.stack([gaussian_filter(m, sigma, mode="reflect") for m in maps]).astype(np.float32)


def alignment_rhos(
    model_maps, human_maps, *, score_size: int = 64, model_blur: float = 0.0, human_blur: float = 0.0
) -> np.ndarray:
    """Spearman rho per image between model and human maps, after the documented protocol.

    Both stacks are resized to ``score_size`` (antialiased bilinear), blurred with the given
    Gaussian sigmas (0: none) and ranked with average ties over pixels.

    Examples
    --------
    >>> human = np.arange(16.0).reshape(1, 4, 4)
    >>> alignment_rhos(2 * human, human, score_size=4).tolist()
    [1.0]
    """
    a = _blur(square_maps(model_maps, score_size).numpy(), model_blur)
    b = _blur(square_maps(human_maps, score_size).numpy(), human_blur)
    if len(a) != len(b):
        raise InputError(f"expected as many model maps as human maps, got {len(a)} and {len(b)}")
    return spearman_rows(a.reshape(len(a), -1), b.reshape(len(b), -1))


def human_reference(
    clicks=None, image_ids=None, *, ceiling: float | None = None, seed: int = 0, progress: bool = False
) -> dict:
    """The ceiling and null the alignment is measured against, and where they come from.

    With a click table (``image_id, participant_id, x, y``), the inter-rater reliability of the
    scored images' participants (:func:`clickme_analysis.reliability.inter_rater_reliability`,
    the paper's method: two random participants per image, null across images); otherwise the
    paper's ImageNet values (``PAPER_CEILING``, ``PAPER_NULL``). An explicit ``ceiling`` wins.
    """
    if ceiling is not None:
        if not 0 < ceiling <= 1:
            raise InputError(f"expected a ceiling in (0, 1], got {ceiling}", field="ceiling")
        return {"ceiling": float(ceiling), "null": float("nan"), "source": "given (--ceiling)"}
    if clicks is None:
        return {
            "ceiling": PAPER_CEILING,
            "null": PAPER_NULL,
            "source": "paper (ImageNet ClickMe inter-rater rho, Linsley et al. 2019)",
        }
    keep = match_ids(
        clicks["image_id"].astype(str).unique(),
        list(image_ids),
        what="click-log images",
        other="scored images",
        warn=False,
    )
    table = inter_rater_reliability(
        clicks[clicks["image_id"].astype(str).isin(keep)], n_images=None, seed=seed, progress=progress
    )
    means = table.groupby("distribution")["rho"].mean()
    n = int((table["distribution"] == "human").sum())
    return {
        "ceiling": float(means["human"]),
        "null": float(means["null"]),
        "source": f"inter-rater reliability of the click logs ({n} images, two random "
        "participants each; null: two different images)",
    }


def _methods_for(model: LoadedModel, methods: Sequence[str]) -> list[str]:
    names = list(dict.fromkeys(method_name(m) for m in methods))
    if model.gala and "gala" not in names:
        names.append("gala")
    if not model.gala:
        names = [m for m in names if m != "gala"]
    return names


def score_alignment(
    models: Sequence[LoadedModel],
    images: Mapping[str, object],
    human_maps: Mapping,
    labels: Mapping[str, str] | None = None,
    *,
    options: AlignmentOptions = AlignmentOptions(),
    reference: dict | None = None,
    archive_dir=None,
    label_path=None,
    label_lines: Mapping[str, int] | None = None,
    labelled_models: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Alignment of every model and method with the human maps, and accuracy on the same images.

    Parameters
    ----------
    models : sequence of LoadedModel
    images : Mapping image id -> image path or (H, W, 3) uint8 array
    human_maps : Mapping image id -> (H, W) map (e.g. :func:`clickme_analysis.archive.open_maps`)
    labels : Mapping image id -> label text, optional
        See :func:`resolve_labels` (empty: unknown).
    options : AlignmentOptions
    reference : dict, optional
        :func:`human_reference`'s output (default: the paper's values).
    labelled_models : sequence of str, optional
        Names of the models ``labels`` apply to (default all); the others explain their
        prediction and have no accuracy.
    archive_dir : path, optional
        Write each model and method's maps, resized to the human maps' shape and scaled to a
        maximum of 1, as ``<model>__<method>.npz`` map archives (``clickme metrics`` reads them).

    Returns
    -------
    per_image : DataFrame
        ``model, method, image_id, rho, label, target, prediction, top1_correct, top5_correct``.
    summary : DataFrame
        ``model, method, n_images, n_labelled, top1_accuracy, top5_accuracy, rho_mean,
        rho_ci_low, rho_ci_high, fraction_of_human, fraction_of_human_ci_low,
        fraction_of_human_ci_high, ceiling, null, null_fraction_of_human, ceiling_source``.
    """
    if not models:
        raise InputError("expected at least one model", field="model")
    if options.score_size < 4:
        raise InputError(f"expected a score size >= 4, got {options.score_size}", field="score_size")
    reference = reference or human_reference()
    image_ids = skip_empty(
        human_maps,
        match_ids(list(human_maps.keys()), list(images.keys()), what="human maps", other="images"),
        "alignment",
    )
    if not image_ids:
        raise InputError("expected at least one human map with clicks, got none", field="maps")
    rows = []
    for model in models:
        applies = labelled_models is None or model.name in labelled_models
        known = resolve_labels((labels or {}) if applies else {}, model.num_classes, label_path, label_lines)
        rows += _score_model(
            model,
            images,
            human_maps,
            image_ids,
            known=known,
            label_text=labels or {},
            options=options,
            archive_dir=archive_dir,
        )
    per_image = pd.DataFrame(rows, columns=PER_IMAGE_COLUMNS)
    return per_image, summarize_alignment(per_image, reference, options.n_boot, options.seed)


def _score_model(
    model: LoadedModel,
    images: Mapping,
    human_maps: Mapping,
    image_ids: list[str],
    *,
    known: dict[str, int],
    label_text: Mapping[str, str],
    options: AlignmentOptions,
    archive_dir,
) -> list[tuple]:
    """The per-image rows of one model, batch by batch; its maps written to ``archive_dir``."""
    methods = _methods_for(model, options.methods)
    module = model.module.to(options.resolved_device()).eval()
    writers = {}
    if archive_dir is not None:
        Path(archive_dir).mkdir(parents=True, exist_ok=True)
        writers = {m: MapWriter(Path(archive_dir) / f"{_safe(model.name)}__{m}.npz") for m in methods}
    rows = []
    try:
        batches = range(0, len(image_ids), options.batch_size)
        for start in progress_bar(batches, enabled=options.progress, desc=f"alignment {model.name}", unit="batch"):
            ids = image_ids[start : start + options.batch_size]
            rows += _score_batch(
                model,
                module,
                ids,
                images,
                human_maps,
                known=known,
                label_text=label_text,
                methods=methods,
                writers=writers,
                options=options,
            )
    except BaseException:
        for writer in writers.values():
            writer.abort()
        raise
    for writer in writers.values():
        writer.close()
    return rows


def _score_batch(
    model: LoadedModel,
    module,
    ids: list[str],
    images: Mapping,
    human_maps: Mapping,
    *,
    known: dict[str, int],
    label_text: Mapping[str, str],
    methods: list[str],
    writers: dict,
    options: AlignmentOptions,
) -> list[tuple]:
    """Predictions and every method's rho for one batch of images (rows as :data:`PER_IMAGE_COLUMNS`)."""
    device, amp = options.resolved_device(), options.resolved_amp()
    pixels = [images[i] if isinstance(images[i], np.ndarray) else read_image(images[i]) for i in ids]
    inputs = torch.stack([model.preprocessing.apply(p) for p in pixels]).to(device)
    with torch.no_grad(), autocast(device, amp):
        logits = module(inputs).float()
    k = min(5, logits.shape[1])
    top = logits.topk(k, 1).indices.cpu()
    label = torch.tensor([known.get(i, -1) for i in ids])
    target = torch.where(label >= 0, label, top[:, 0])
    humans = [np.asarray(human_maps[i], dtype=np.float32) for i in ids]
    for image_id, pixel, human in zip(ids, pixels, humans):  # both go to the model's square frame
        check_aspect(human.shape, pixel.shape[:2], what="human map (its image's shape)", field=image_id)
    squared = np.concatenate([square_maps(h, options.score_size).numpy() for h in humans])
    rows = []
    for method in methods:
        maps = (
            importance_maps(
                module,
                inputs,
                method,
                target.to(device),
                layer=options.layer,
                n_samples=options.n_samples,
                noise_fraction=options.noise_fraction,
                n_steps=options.n_steps,
                window=options.window,
                batch_size=options.batch_size,
                seed=options.seed,
                amp=amp,
                channels_last=True,
                fast=True,
            )
            .cpu()
            .numpy()
        )
        rho = alignment_rhos(
            maps, squared, score_size=options.score_size, model_blur=options.model_blur, human_blur=options.human_blur
        )
        for j, image_id in enumerate(ids):
            rows.append(
                (
                    model.name,
                    method,
                    image_id,
                    rho[j],
                    int(label[j]),
                    int(target[j]),
                    int(top[j, 0]),
                    bool(label[j] >= 0 and top[j, 0] == label[j]),
                    bool(label[j] >= 0 and (top[j] == label[j]).any()),
                )
            )
            if method in writers:
                writers[method].write(
                    image_id,
                    unit_max(torch.as_tensor(_resize_to(maps[j], humans[j].shape), dtype=torch.float32)[None])[
                        0
                    ].numpy(),
                    label=str(label_text.get(image_id, "")),
                )
    return rows


def _resize_to(saliency_map: np.ndarray, shape) -> np.ndarray:
    tensor = torch.as_tensor(np.asarray(saliency_map, dtype=np.float32))[None, None]
    return F.interpolate(tensor, size=tuple(shape), mode="bilinear", align_corners=False, antialias=True)[0, 0].numpy()


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "model"


def summarize_alignment(per_image: pd.DataFrame, reference: dict, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """One row per model and method: accuracy, mean rho and fraction of human with bootstrap CIs.

    The shared columns (:data:`models.score.SCORE_COLUMNS`) come from
    :func:`models.score.human_score`, as ``clickme score``'s: ``fraction_of_human = rho_mean /
    ceiling``; its interval is the percentile bootstrap interval of the mean rho over images
    (``n_boot`` resamples) divided by the ceiling (held fixed).

    Examples
    --------
    >>> rows = pd.DataFrame({"model": "m", "method": "saliency", "image_id": ["a", "b"],
    ...                      "rho": [0.2, 0.4], "label": [0, -1], "top1_correct": [True, False],
    ...                      "top5_correct": [True, False]})
    >>> s = summarize_alignment(rows, {"ceiling": 0.6, "null": 0.1, "source": "test"}, n_boot=10)
    >>> s[["top1_accuracy", "rho_mean", "fraction_of_human"]].round(3).values.tolist()
    [[1.0, 0.3, 0.5]]
    """
    ceiling, null = reference["ceiling"], reference["null"]

    def fraction(rho):
        return fraction_of_human_variability(rho, ceiling)

    out = []
    for (model, method), group in per_image.groupby(["model", "method"], sort=False):
        mean, low, high = bootstrap_mean_ci(group["rho"], n_boot=n_boot, seed=seed)
        scores = human_score(group, mean, ceiling)
        out.append(
            {
                "model": model,
                "method": method,
                "n_images": len(group),
                "n_labelled": scores["n_labelled"],
                "top1_accuracy": scores["top1_accuracy"],
                "top5_accuracy": scores["top5_accuracy"],
                "rho_mean": mean,
                "rho_ci_low": low,
                "rho_ci_high": high,
                "fraction_of_human": scores["fraction_of_human"],
                "fraction_of_human_ci_low": fraction(low),
                "fraction_of_human_ci_high": fraction(high),
                "ceiling": ceiling,
                "null": null,
                "null_fraction_of_human": fraction(null),
                "ceiling_source": reference["source"],
            }
        )
    return pd.DataFrame(out)
