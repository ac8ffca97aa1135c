"""Scoring: top-1/top-5 accuracy and the fraction of human ClickMe map variability explained.

Per image, the model map (column-wise L2 norm over channels of a layer's activity, by default
the last GALA attention volume) and the human map are resized to ``score_size`` and compared by
Spearman's rho; the mean rho divided by the human inter-rater ceiling (``PAPER_CEILING`` in the paper) is
the "fraction of human ClickMe map variability" (Linsley et al. 2019, Section 4). The p-value
pairs model maps with the human maps of other images (permutations of the pairing).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from clickme_analysis.archive import open_maps
from clickme_analysis.errors import InputError
from clickme_analysis.ids import match_ids
from clickme_analysis.progress import progress as progress_bar
from clickme_analysis.ranks import pearson_rows, rank_rows, spearman_rows
from clickme_analysis.reliability import PAPER_CEILING, fraction_of_human_variability
from models.checkpoint import model_from_checkpoint
from models.data import make_dataset
from models.explain import autocast as autocast_context
from models.layers import attention_layers, record_layers, unwrap
from models.loss import attention_map, clickme_loss
from models.map_ops import square_maps


@torch.no_grad()
def evaluate(
    model,
    loader,
    layers=None,
    *,
    score_layer: str | None = None,
    lam: float = 0.0,
    device="cpu",
    amp: str = "none",
    channels_last: bool = False,
    score_size: int = 64,
    progress: bool = False,
    loss_options: dict | None = None,
):
    """Run a model over a loader of :class:`models.data.PairedDataset` items.

    Parameters
    ----------
    model : nn.Module
    loader : iterable of batches (dicts of ``image``, ``map``, ``has_map``, ``label``, ``index``)
    layers : list of str, optional
        Layers of the ClickMe loss (default :func:`models.layers.attention_layers`).
    score_layer : str, optional
        Layer whose map is scored (default the last of ``layers``).
    lam : float
        Lambda for the reported loss.
    score_size : int, default 64
        Side of the square on which model and human maps are compared.

    Returns
    -------
    frame : DataFrame
        One row per image: ``index, label, top1_correct, top5_correct, cross_entropy,
        distance, has_map``.
    model_maps, human_maps : ndarray (N, score_size, score_size) float32
    """
    base = unwrap(model)
    layers = list(layers) if layers else attention_layers(base)
    score_layer = score_layer or layers[-1]
    was_training = base.training
    base.eval()
    rows, model_maps, human_maps = [], [], []
    autocast = autocast_context(device, amp)
    try:
        with record_layers(base, list(dict.fromkeys(layers + [score_layer]))) as seen:
            for batch in progress_bar(loader, enabled=progress, desc="evaluate", unit="batch"):
                images = batch["image"].to(device)
                if channels_last:
                    images = images.contiguous(memory_format=torch.channels_last)
                with autocast:
                    logits = base(images)
                _check_labels(batch["label"], logits.shape[1], batch["index"], loader)
                maps = batch["map"].to(device)
                distance = clickme_loss(
                    logits,
                    _known(batch["label"].to(device)),
                    [seen[n] for n in layers],
                    maps,
                    batch["has_map"].to(device),
                    lam=lam,
                    **(loss_options or {}),
                )["distance"]
                rows.append(_batch_rows(batch, logits, distance))
                model_maps.append(square_maps(attention_map(seen[score_layer]), score_size).cpu())
                human_maps.append(square_maps(maps, score_size).cpu())
    finally:
        base.train(was_training)
    if not rows:
        raise InputError("no images to evaluate")
    return (pd.concat(rows, ignore_index=True), torch.cat(model_maps).numpy(), torch.cat(human_maps).numpy())


def _known(labels: torch.Tensor) -> torch.Tensor:
    """Labels with the unknown ones (< 0) replaced by class 0 (their rows are masked out)."""
    return torch.where(labels >= 0, labels, torch.zeros_like(labels))


def _batch_rows(batch: dict, logits: torch.Tensor, distance: torch.Tensor) -> pd.DataFrame:
    """One row per image of a batch: hits, cross-entropy (NaN when unlabelled), map distance (NaN without map)."""
    labels = batch["label"].to(logits.device)
    has_map = batch["has_map"].to(logits.device)
    labelled, safe = labels >= 0, _known(labels)
    top = logits.float().topk(min(5, logits.shape[1]), 1).indices
    hit = top == safe[:, None]
    ce = F.cross_entropy(logits.float(), safe, reduction="none")
    return pd.DataFrame(
        {
            "index": batch["index"].numpy(),
            "label": labels.cpu().numpy(),
            "top1_correct": torch.where(labelled, hit[:, 0], False).cpu().numpy(),
            "top5_correct": torch.where(labelled, hit.any(1), False).cpu().numpy(),
            "cross_entropy": torch.where(labelled, ce, torch.nan).cpu().numpy(),
            "distance": torch.where(has_map, distance, torch.nan).cpu().numpy(),
            "has_map": has_map.cpu().numpy(),
        }
    )


def _check_labels(labels: torch.Tensor, n_classes: int, index, loader) -> None:
    """Labels must be classes of the model: a located error, not an IndexError in the loss."""
    bad = torch.nonzero(labels >= n_classes).flatten()
    if len(bad):
        position = int(index[int(bad[0])])
        samples = getattr(getattr(loader, "dataset", None), "samples", None)
        name = f"image {samples[position].image_id!r}" if samples else f"image #{position}"
        raise InputError(
            f"label {int(labels[bad[0]])} of {name} is outside the checkpoint's "
            f"{n_classes} classes (0-{n_classes - 1})",
            field="label",
        )


def map_alignment(model_maps: np.ndarray, human_maps: np.ndarray) -> np.ndarray:
    """Per-image Spearman rho between model and human maps (N, H, W) (ties: average ranks).

    Examples
    --------
    >>> map_alignment(np.array([[[1., 2.], [3., 4.]]]), np.array([[[1., 3.], [2., 4.]]]))
    array([0.8])
    """
    model_maps, human_maps = np.asarray(model_maps), np.asarray(human_maps)
    if model_maps.shape != human_maps.shape or model_maps.ndim != 3:
        raise InputError(f"expected two (N, H, W) arrays of one shape, got {model_maps.shape} and {human_maps.shape}")
    n = len(model_maps)
    return spearman_rows(model_maps.reshape(n, -1).astype(np.float32), human_maps.reshape(n, -1).astype(np.float32))


def map_permutation_test(
    model_maps: np.ndarray, human_maps: np.ndarray, n_permutations: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """Is mean rho above what model maps reach against other images' human maps?

    Returns
    -------
    p_value : float
        ``(1 + #{null mean >= observed}) / (1 + n_permutations)``.
    null_mean : float
        Mean rho under shuffled pairings (the null floor).
    """
    n = len(model_maps)
    if n < 2:
        return float("nan"), float("nan")
    rm = rank_rows(np.asarray(model_maps, np.float32).reshape(n, -1))
    rh = rank_rows(np.asarray(human_maps, np.float32).reshape(n, -1))
    observed = np.nanmean(pearson_rows(rm, rh))
    rng = np.random.default_rng(seed)
    null = np.array([np.nanmean(pearson_rows(rm, rh[rng.permutation(n)])) for _ in range(n_permutations)])
    return float((1 + np.sum(null >= observed)) / (1 + n_permutations)), float(np.mean(null))


#: The columns :func:`summarize` (``clickme score``) and
#: :func:`models.alignment_scoring.summarize_alignment` (``clickme alignment``) share, one vocabulary.
SCORE_COLUMNS = [
    "top1_accuracy",
    "top5_accuracy",
    "fraction_of_human",
    "rho_mean",
    "ceiling",
    "null",
    "n_images",
    "n_labelled",
]


def human_score(per_image: pd.DataFrame, rho_mean: float, ceiling: float) -> dict:
    """Accuracy on the labelled rows and the fraction of human map variability of ``rho_mean``.

    ``per_image`` has ``label`` (< 0: unknown), ``top1_correct`` and ``top5_correct``;
    ``fraction_of_human`` is :func:`clickme_analysis.reliability.fraction_of_human_variability`.

    Examples
    --------
    >>> rows = pd.DataFrame({"label": [0, 1, -1], "top1_correct": [True, False, False],
    ...                      "top5_correct": [True, True, False]})
    >>> human_score(rows, 0.29, 0.58)
    {'top1_accuracy': 0.5, 'top5_accuracy': 1.0, 'fraction_of_human': 0.5, 'rho_mean': 0.29, 'n_labelled': 2}
    """
    labelled = per_image["label"] >= 0

    def accuracy(column):
        return float(per_image.loc[labelled, column].mean()) if labelled.any() else float("nan")

    return {
        "top1_accuracy": accuracy("top1_correct"),
        "top5_accuracy": accuracy("top5_correct"),
        "fraction_of_human": fraction_of_human_variability(rho_mean, ceiling),
        "rho_mean": rho_mean,
        "n_labelled": int(labelled.sum()),
    }


def summarize(
    frame: pd.DataFrame,
    model_maps,
    human_maps,
    *,
    model: str = "model",
    ceiling: float = PAPER_CEILING,
    n_permutations: int = 1000,
    seed: int = 0,
):
    """Turn :func:`evaluate`'s output into per-image and summary tables.

    Returns
    -------
    per_image : DataFrame
        ``frame`` plus ``rho``.
    summary : DataFrame (one row)
        ``model, top1_accuracy, top5_accuracy, fraction_of_human, rho_mean, p_value, ceiling, null,
        n_images, n_labelled, n_maps`` (:data:`SCORE_COLUMNS`, ``p_value`` and ``n_maps``); ``null``
        is the mean rho of the permutation null (model maps against other images' human maps).
    """
    if not 0 < ceiling <= 1:
        raise InputError(f"expected a ceiling in (0, 1], got {ceiling}", field="ceiling")
    per_image = frame.copy()
    has_map = per_image["has_map"].to_numpy(bool)
    if not has_map.any():
        raise InputError(
            f"none of the {len(per_image)} images has a human map: check that the map "
            "archive's ids are the images' ids (clickme_analysis.ids)",
            field="maps",
        )
    rho = np.full(len(per_image), np.nan)
    rho[has_map] = map_alignment(model_maps[has_map], human_maps[has_map])
    per_image["rho"] = rho
    p_value, null = map_permutation_test(model_maps[has_map], human_maps[has_map], n_permutations, seed)
    rho_mean = float(np.nanmean(rho)) if np.isfinite(rho).any() else float("nan")
    scores = human_score(per_image, rho_mean, ceiling)
    row = {"model": model, **scores, "p_value": p_value, "ceiling": ceiling, "null": null}
    row.update(n_images=len(per_image), n_maps=int(has_map.sum()))
    order = ["model", *SCORE_COLUMNS[:4], "p_value", "ceiling", "null", "n_images", "n_labelled", "n_maps"]
    return per_image, pd.DataFrame([row])[order]


def score_model(
    model,
    dataset,
    model_name: str = "model",
    *,
    layer: str | None = None,
    batch_size: int = 32,
    device="cpu",
    ceiling: float = PAPER_CEILING,
    n_permutations: int = 1000,
    score_size: int = 64,
    seed: int = 0,
    progress: bool = False,
    workers: int = 0,
):
    """Top-1/top-5 accuracy and fraction of human map variability of ``model`` on ``dataset``.

    Parameters
    ----------
    model : nn.Module
    dataset : models.data.PairedDataset
    model_name : str
        Value of the ``model`` column.
    layer : str, optional
        Scored layer (default: the last GALA gate / SE layer / conv4 block).
    ceiling : float, default PAPER_CEILING
        Human inter-rater rho (paper); see :mod:`clickme_analysis.reliability`.
    n_permutations : int, default 1000
    score_size : int, default 64
    seed : int, default 0

    Returns
    -------
    per_image, summary : DataFrame
        As :func:`summarize`.
    """
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, num_workers=workers)
    frame, model_maps, human_maps = evaluate(
        model.to(device), loader, score_layer=layer, device=device, score_size=score_size, progress=progress
    )
    return summarize(
        frame, model_maps, human_maps, model=model_name, ceiling=ceiling, n_permutations=n_permutations, seed=seed
    )


def score_checkpoints(
    paths,
    data,
    *,
    maps: str = "",
    label_column: str | None = None,
    layer: str | None = None,
    batch_size: int = 32,
    ceiling: float = PAPER_CEILING,
    n_permutations: int = 1000,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``clickme score``: :func:`score_model` for each checkpoint on ``data`` with the ``maps``.

    Returns
    -------
    summary : DataFrame
        One row per checkpoint (:func:`summarize`; ``model`` is the checkpoint's path).
    per_image : DataFrame
        ``model, image_id`` and :func:`summarize`'s per-image columns.

    Raises
    ------
    InputError
        Data without class labels in the label column, or maps whose ids match no image.
    """
    summaries, per_image = [], []
    for path in paths:
        model, config = model_from_checkpoint(path)
        if label_column:
            config = config.replace(label_column=label_column)
        dataset = make_dataset(config, data, maps)
        if dataset.samples and all(s.label < 0 for s in dataset.samples):  # no label: NaN accuracy otherwise
            raise InputError(
                f"expected class labels in the data's column {config.label_column!r}, got none "
                "(name the manifest's class column with --label-column)",
                path=data,
                field="label_column",
            )
        if maps:
            with open_maps(maps) as archive:  # no matching id: a located error, not NaN
                match_ids(list(archive.keys()), [s.image_id for s in dataset.samples], warn=False)
        rows, summary = score_model(
            model,
            dataset,
            str(path),
            layer=layer,
            batch_size=batch_size,
            ceiling=ceiling,
            n_permutations=n_permutations,
            seed=seed,
            progress=config.progress,
        )
        rows.insert(0, "model", str(path))
        rows.insert(1, "image_id", [dataset.samples[i].image_id for i in rows["index"]])
        summaries.append(summary)
        per_image.append(rows)
    return pd.concat(summaries, ignore_index=True), pd.concat(per_image, ignore_index=True)
