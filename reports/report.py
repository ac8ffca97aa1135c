"""Gather the toolkit's outputs into figures, tables and one self-contained ``report.html``.

This is the only I/O layer of :mod:`reports`: it reads the files of ``docs/outputs.md`` under an
inputs root (``clickme/``, ``stimuli/``, ``experiment/``, ``models/``), turns them into the tidy
DataFrames and arrays that :mod:`reports.figures` and :mod:`reports.tables` take, and writes

- ``OUT/report.html``: every figure embedded as a base64 PNG, a caption under each, the tables,
  and the list of parts that are missing or could not be used;
- ``OUT/figures/<name>.pdf`` and ``.png``;
- ``OUT/tables/<name>.md``, ``.tex`` and ``.csv``.

A missing input file is not an error: the part that needs it is listed as missing. A present
file that breaks the contract (a missing column, an unreadable array) is listed with the reason
and the rest of the report is still built.
"""

from __future__ import annotations

import base64
import html
import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from clickme_analysis.errors import InputError
from clickme_analysis.io import read_table as _read_csv_table
from reports import alignment_figures, figures, psychophysics_figures, tables

#: Example images shown in the map figures.
N_EXAMPLES = 6


class Missing(Exception):
    """An input a report part needs is absent (the part is listed, not fatal)."""


@dataclass
class Item:
    """One report element: a matplotlib Figure, a table (DataFrame) or an existing PNG (bytes)."""

    name: str
    title: str
    caption: str
    content: object


@dataclass
class Gathered:
    """What :func:`gather` found: items per section, and the parts missing or unusable."""

    inputs: Path
    sections: dict = field(default_factory=dict)
    missing: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    #: stage folder -> :class:`Provenance` (who produced that stage's data)
    provenance: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------- readers
def _need(path: Path) -> Path:
    if not path.is_file():
        raise Missing(str(path))
    return path


def read_table(path: Path, columns=(), numeric=()) -> pd.DataFrame:
    """Read a CSV output; absent -> :class:`Missing`, malformed -> :class:`InputError`.

    ``numeric`` columns (those present) become floats; a cell that is not a number raises
    :class:`InputError` naming its line and column. Only empty cells and ``NaN`` are missing
    values: ``null`` (a distribution name) and ``NA`` (an image id) stay strings.
    """
    frame = _read_csv_table(_need(path), columns, "CSV output", keep_default_na=False,
                            na_values=["", "NaN", "nan"])
    return _as_numbers(frame, path, numeric)


def _as_numbers(frame: pd.DataFrame, path: Path, columns) -> pd.DataFrame:
    """``columns`` (those present) as floats; a cell that is not a number is a located error."""
    for column in (c for c in columns if c in frame.columns):
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = np.flatnonzero((values.isna() & frame[column].notna()).to_numpy())
        if len(bad):
            raise InputError(f"expected a number, got {frame[column].iloc[bad[0]]!r}", path=path,
                             line=int(bad[0]) + 2, field=column)
        frame[column] = values.astype(float)
    return frame


def read_image(path: Path) -> np.ndarray:
    """Read a PNG as a uint8 array (H, W) or (H, W, 3)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(_need(path)) as image:
            return np.asarray(image.convert("L" if image.mode in ("L", "I", "I;16") else "RGB"))
    except (UnidentifiedImageError, OSError, ValueError) as err:  # ValueError: a NUL in the path
        raise InputError(f"could not read as an image: {err}", path=path) from None


def _read_archive(path: Path, image_ids) -> dict:
    from clickme_analysis.archive import MapArchive

    with MapArchive(_need(path)) as archive:
        return {i: np.asarray(archive[i]) for i in image_ids if i in archive}


def _label_columns(root: Path, column: str = "label") -> dict:
    """``clickme/labels.csv``: image id -> ``column`` (``label`` or ``category``); absent -> {}."""
    path = root / "clickme" / "labels.csv"
    if not path.is_file():
        return {}
    frame = read_table(path, ["image_id", column])
    return dict(zip(frame["image_id"].astype(str), frame[column].astype(str)))


def _labels(root: Path) -> dict:
    return _label_columns(root, "label")


def _example_ids(root: Path, candidates) -> list[str]:
    """Up to N_EXAMPLES ids with an image: distinct labels first, categories alternating."""
    candidates = [i for i in candidates if (root / "clickme" / "images" / f"{i}.png").is_file()]
    if not (root / "clickme" / "labels.csv").is_file():
        return candidates[:N_EXAMPLES]
    label, category = _labels(root), _label_columns(root, "category")
    seen: set = set()
    distinct = [i for i in candidates if label.get(i) not in seen and not seen.add(label.get(i))]
    groups = [[i for i in distinct if category.get(i) == c]
              for c in dict.fromkeys(category.get(i) for i in distinct)]
    alternating = [i for row in itertools.zip_longest(*groups) for i in row if i is not None]
    return (alternating + [i for i in candidates if i not in distinct])[:N_EXAMPLES]


# ----------------------------------------------------------------------------- provenance
@dataclass
class Provenance:
    """Who produced one stage's data, as that stage recorded it.

    ``simulated`` is True when any of the stage's data come from simulated people (or, for
    ``models``, a synthetic task), False when the stage recorded only real sessions, None when it
    recorded nothing. ``note`` is the sentence appended to the captions of that stage's parts.
    """

    stage: str
    simulated: bool | None
    what: str
    source: str
    detail: str
    note: str = ""


#: Stage folder -> (what the stage's data come from, the caption phrase when simulated).
STAGE_SUBJECTS = {
    "clickme": ("ClickMe players", "the ClickMe players are simulated"),
    "experiment": ("participants", "the participants are simulated observers"),
    "models": ("training and test images", "the models were trained and scored on a synthetic task"),
    "game": ("game players", "the players are simulated"),
}


def _demo_notes(root: Path, stage: str) -> list[str] | None:
    """Lines of ``<stage>/demo_log.txt`` (written only by ``clickme demo``); None when absent."""
    path = root / stage / "demo_log.txt"
    if not path.is_file():
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"could not read as text: {err}", path=path) from None
    return [line.strip() for line in text.splitlines() if line.strip()]


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"not valid JSON: {err}", path=path) from None


def _session_modes(root: Path, stage: str) -> tuple[dict, str] | None:
    """Participant -> set of recorded run modes (``lab``, ``simulate``, ``simulate-...``).

    The experiment writes one ``experiment/data/<participant>.json`` per session with
    ``runs[].mode``; the game one ``game/session.json`` with ``sessions[].mode``.
    """
    modes: dict = {}
    if stage == "experiment":
        paths = sorted((root / "experiment" / "data").glob("*.json"))
        for path in paths:
            record = _read_json(path)
            runs = record.get("runs", []) if isinstance(record, dict) else []
            who = str(record.get("participant", path.stem)) if isinstance(record, dict) else path.stem
            modes.setdefault(who, set()).update(str(r.get("mode")) for r in runs if isinstance(r, dict))
        return (modes, "experiment/data/*.json") if paths else None
    path = root / "game" / "session.json"
    if stage != "game" or not path.is_file():
        return None
    record = _read_json(path)
    sessions = record.get("sessions", []) if isinstance(record, dict) else []
    for session in sessions if isinstance(sessions, list) else []:
        if isinstance(session, dict):
            modes.setdefault(str(session.get("participant_id")), set()).add(str(session.get("mode")))
    return modes, "game/session.json"


def provenance(root: Path) -> dict[str, Provenance]:
    """Who produced each stage's data under ``root``, from what the stages recorded.

    Session records (``experiment/data/*.json``, ``game/session.json``) say per participant
    whether a session was run in the lab or simulated; ``<stage>/demo_log.txt``, written only
    by ``clickme demo``, marks a stage's data as the demo's simulation.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> (root / "clickme").mkdir()
    >>> _ = (root / "clickme" / "demo_log.txt").write_text("12 simulated ClickMe players")
    >>> found = provenance(root)["clickme"]
    >>> found.simulated, found.source, found.detail
    (True, 'clickme/demo_log.txt', '12 simulated ClickMe players')
    """
    result = {}
    for stage, (what, phrase) in STAGE_SUBJECTS.items():
        if not (root / stage).is_dir():
            continue
        notes, sessions = _demo_notes(root, stage), _session_modes(root, stage)
        if sessions is not None and sessions[0]:
            modes, source = sessions
            n_simulated = sum(bool(m) and all(x.startswith("simulate") for x in m) for m in modes.values())
            flag = n_simulated > 0
            detail = f"{n_simulated} of {len(modes)} {what} simulated"
            note = f"Simulated data: {detail} ({source})." if flag else ""
        elif notes is not None:
            source, detail, flag = f"{stage}/demo_log.txt", "", True
            note = f"Simulated data: {phrase} (the demo; {source})."
        else:
            source, detail, flag, note = "", "not recorded", None, ""
        detail = "; ".join(([detail] if detail else []) + (notes or []) or ["`clickme demo`"])
        result[stage] = Provenance(stage, flag, what, source, detail, note)
    return result


def _provenance_table(rows: dict) -> pd.DataFrame:
    return pd.DataFrame({"Stage": [p.stage for p in rows.values()],
                         "Data from": [p.what for p in rows.values()],
                         "Simulated": [{True: "yes", False: "no", None: "not recorded"}[p.simulated]
                                       for p in rows.values()],
                         "Recorded in": [p.source for p in rows.values()],
                         "Details": [p.detail for p in rows.values()]})


# ----------------------------------------------------------------------------- report parts
def _example_map_figure(root: Path, main: tuple[str, str], second: tuple[str, str]):
    """Example images with a row per map source: ``main`` (name, archive under root) is needed,
    ``second`` is drawn when its archive exists. Returns the figure and whether ``second`` was drawn."""
    from clickme_analysis.archive import MapArchive

    with MapArchive(_need(root / main[1])) as archive:
        ids = _example_ids(root, archive.image_ids)
    if not ids:
        raise Missing(str(root / "clickme" / "images" / "<image_id>.png"))
    images = {i: read_image(root / "clickme" / "images" / f"{i}.png") for i in ids}
    maps = {name: _read_archive(root / path, ids) for name, path in (main, second)
            if path == main[1] or (root / path).is_file()}
    return figures.example_maps(images, maps, titles=_labels(root)), len(maps) > 1


def _clickme_maps(root: Path) -> list[Item]:
    fig, both = _example_map_figure(root, ("clickme", "clickme/maps.npz"), ("saliency", "clickme/saliency_maps.npz"))
    caption = ("Example ClickMe maps (middle row) over their images, opacity and colour from "
               "the blurred map divided by its maximum"
               + (f"; bottom row: the second map source, {_second_source(root)}." if both else "."))
    return [Item("clickme_maps", "ClickMe maps", caption, fig)]


def _participants(root: Path) -> list[Item]:
    frame = read_table(root / "clickme" / "participants_per_image.csv",
                       ["image_id", "n_participants"], numeric=["n_participants"])
    caption = (f"Number of participants whose clicks make up each ClickMe map "
               f"({len(frame)} images; dashed line: mean).")
    return [Item("participants_per_map", "Participants per map", caption,
                 figures.participants_histogram(frame))]


def _reliability(root: Path) -> list[Item]:
    frame = read_table(root / "clickme" / "reliability_per_image.csv", ["rho", "distribution"],
                       numeric=["rho"])
    return [Item("reliability", "Inter-rater reliability",
                 "Spearman correlation between the maps of two participants of the same image "
                 "(human) and of two different images (null); dashed lines: the means.",
                 figures.reliability_null(frame))]


def _reliability_summary(root: Path) -> list[Item]:
    path = _need(root / "clickme" / "reliability_summary.json")
    data = _read_json(path)
    if not isinstance(data, dict):
        raise InputError(f"expected a JSON object, got {type(data).__name__}", path=path)
    table = tables.reliability_table(data)
    details = "; ".join(f"{key.replace('_', ' ')}: {data[key]}"
                        for key in ("method", "null_method", "ceiling", "n_boot", "seed")
                        if key in data)
    return [Item("reliability_summary", "Reliability summary",
                 "Mean Spearman rho between participants' maps with its confidence interval"
                 + (f" ({details})." if details else "."), table)]


def _second_source(root: Path) -> str:
    """What ``clickme/saliency_maps.npz`` holds: the demo's stand-in, or the user's maps."""
    if _demo_notes(root, "clickme") is not None:
        return ("the bottom-up saliency stand-in of the demo (blurred edge energy with a centre "
                "bias, clickme/saliency_maps.npz)")
    return "the maps in clickme/saliency_maps.npz"


def _metrics(root: Path) -> list[Item]:
    frame = read_table(root / "clickme" / "metrics.csv", ["image_id", "metric", "value"], numeric=["value"])
    predictions = ("The demo's bottom-up saliency stand-in (clickme/saliency_maps.npz)"
                   if _demo_notes(root, "clickme") is not None
                   else "The predicted maps given to `clickme metrics --pred`")
    return [Item("saliency_metrics", "Saliency metrics",
                 f"{predictions} scored against the ClickMe maps (clickme/metrics.csv): mean, "
                 "S.E.M. and number of images per metric.", tables.metric_table(frame))]


def _contact_sheets(root: Path) -> list[Item]:
    folder = root / "stimuli"
    everything = read_table(folder / "manifest.csv", ["image_id", "map_source", "level", "path"],
                            numeric=["level", "budget", "pixels_revealed"])
    empty = np.flatnonzero(everything["path"].isna().to_numpy() | everything["level"].isna().to_numpy())
    if len(empty):
        raise InputError("expected a stimulus path and level in every row", path=folder / "manifest.csv",
                         line=int(empty[0]) + 2, field="path")
    shares = _budget_shares(everything)
    manifest = everything[everything["map_source"].astype(str) != "intact"]
    if manifest.empty:
        raise InputError("no stimuli other than intact images", path=folder / "manifest.csv")
    first = manifest.drop_duplicates("image_id")
    # one target (animal) and one non-target image when the manifest says which is which
    by = first["target"].astype(str) if "target" in first else pd.Series(0, index=first.index)
    ids = first.groupby(by, sort=False)["image_id"].first().astype(str).tolist()
    items = []
    for image_id in ids[:2]:
        rows = manifest[manifest["image_id"].astype(str) == str(image_id)]
        sheet: dict = {}
        for row in rows.itertuples(index=False):
            path = Path(row.path) if Path(row.path).is_absolute() else folder / row.path
            sheet.setdefault(str(row.map_source), {})[float(row.level)] = read_image(path)
        safe_id = re.sub(r"[^A-Za-z0-9_.-]", "_", str(image_id))  # a file name, an HTML id
        budget = (f"; this image's budget is {shares[image_id]:.0f}% of its pixels"
                  if image_id in shares.index else "")
        items.append(Item(f"contact_sheet_{safe_id}", f"Stimuli: {image_id}",
                          f"Stimulus contact sheet for image {image_id}: one row per map "
                          "source, columns the reveal level, the percentage of the reveal budget "
                          f"shown (each source's highest-ranked pixels first){budget}.",
                          figures.contact_sheet(sheet, str(image_id))))
    return items


def _budget_shares(manifest: pd.DataFrame) -> pd.Series:
    """Image id -> reveal budget as a percentage of the image's pixels (empty when unknown).

    From ``stimuli/manifest.csv``: ``budget`` (pixels) and the intact row's ``pixels_revealed``.
    """
    if not {"budget", "pixels_revealed"} <= set(manifest.columns):
        return pd.Series(dtype=float)
    frame = manifest.assign(image_id=manifest["image_id"].astype(str),
                            budget=pd.to_numeric(manifest["budget"], errors="coerce"),
                            pixels=pd.to_numeric(manifest["pixels_revealed"], errors="coerce"))
    full = frame[frame["map_source"].astype(str) == "intact"].groupby("image_id")["pixels"].first()
    budget = frame.groupby("image_id")["budget"].first()
    return (100 * budget / full[full > 0]).dropna()


def _psychophysics(root: Path) -> list[Item]:
    folder = root / "experiment"
    numbers = ["level", "accuracy", "sem", "predicted", "ci_low", "ci_high", "p", "p_holm", "statistic"]
    accuracy = read_table(folder / "accuracy.csv", ["group", "level", "accuracy", "sem"], numbers)
    optional = {}
    for name, columns in (("psychometric", ["group", "level", "predicted", "ci_low", "ci_high"]),
                          ("level_tests", ["level", "p", "significant"])):
        path = folder / f"{name}.csv"
        optional[name] = read_table(path, columns, numbers) if path.is_file() else None
    manifest = root / "stimuli" / "manifest.csv"
    shares = (_budget_shares(read_table(manifest, ["image_id", "map_source"],
                                        numeric=["budget", "pixels_revealed"])) if manifest.is_file()
              else pd.Series(dtype=float))
    budget = (f" (in stimuli/manifest.csv the budget is {shares.min():.0f}-{shares.max():.0f}% of an "
              "image's pixels)" if len(shares) else "")
    caption = ("Accuracy (mean over participants, bars: S.E.M.) against the reveal level, per map "
               "source: the percentage of the reveal budget shown, where the budget is a pixel "
               f"count set by the first map source and shared by all sources{budget}; log x axis.")
    if optional["psychometric"] is not None:
        caption += " Lines: fitted psychometric curves with their confidence bands."
    if optional["level_tests"] is not None:
        caption += (" Stars: levels where the map sources differ (randomisation test, Holm "
                    "corrected; * p < .05, ** p < .01, *** p < .001).")
    items = [Item("accuracy_curves", "Accuracy vs features revealed", caption,
                  figures.accuracy_curves(accuracy, **optional))]
    if optional["level_tests"] is not None:
        items.append(Item("level_tests", "Per-level tests",
                          "Per-level test of the difference between map sources.",
                          tables.level_test_table(optional["level_tests"])))
    return items


def _thresholds(root: Path) -> list[Item]:
    """Psychometric thresholds (optional: absent is not a missing part)."""
    path = root / "experiment" / "psychometric_params.csv"
    if not path.is_file():
        return []
    return [Item("psychometric_thresholds", "Psychometric thresholds",
                 "Reveal level (percentage of the reveal budget shown) at the midpoint of each "
                 "group's fitted psychometric function (where P(correct) is half-way between chance "
                 "and 1 - lapse), with its bootstrap 95% interval (parametric unless "
                 "psychometric_params.csv says otherwise).",
                 tables.threshold_table(read_table(path, ["group", "threshold"],
                                                   ["threshold", "threshold_ci_low", "threshold_ci_high"])))]


def _model_scores(root: Path) -> list[Item]:
    frame = read_table(root / "models" / "scores.csv",
                       ["model", "top1_err", "top5_err", "fraction_human"],
                       ["top1_err", "top5_err", "fraction_human", "rho_mean", "p_value"])
    return [Item("model_scores", "Models",
                 "Top-1 and top-5 error and the fraction of human ClickMe map variability "
                 "explained by each model's attention (paper Tables 1-4).",
                 tables.model_table(frame))]


def _lambda_sweep(root: Path) -> list[Item]:
    columns = ["lambda", "top1_err", "fraction_human", "ceiling", "null_floor"]
    frame = read_table(root / "models" / "sweep.csv", columns, columns)
    return [Item("lambda_sweep", "Lambda sweep",
                 "Top-1 accuracy (A) and fraction of human map variability (B) against the "
                 "weight lambda of the ClickMe map loss; dashed: the human inter-rater ceiling, "
                 "dotted: the null floor.", figures.lambda_sweep(frame))]


def _training_curves(root: Path) -> list[Item]:
    frame = read_table(root / "models" / "curves.csv",
                       ["run", "epoch", "split", "accuracy", "map_alignment"],
                       ["epoch", "accuracy", "map_alignment"])
    return [Item("training_curves", "Training curves",
                 "Accuracy and map alignment over epochs per run (solid: train, dashed: "
                 "held out).", figures.training_curves(frame))]


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
        raise InputError(f"expected images (N, H, W, 3) or (N, 3, H, W), got {images.shape}",
                         field="images")
    if images.size and (images.min() < 0 or images.max() > 1):
        low = images.min(axis=tuple(range(1, images.ndim)), keepdims=True)
        high = images.max(axis=tuple(range(1, images.ndim)), keepdims=True)
        images = (images - low) / np.where(high > low, high - low, 1)
    return images


def _attention(root: Path) -> list[Item]:
    """``models/attention.npz``: ``images``, optional ``image_ids`` and ``human_maps``, one
    (N, h, w) member per model (``<model>`` or ``attention/<model>``) and optionally
    ``smoothgrad/<model>`` for two models."""
    from clickme_analysis.io import load_npz

    path = _need(root / "models" / "attention.npz")
    arrays = load_npz(path)
    smoothgrad = {name.split("/", 1)[1]: arrays.pop(name) for name in list(arrays)
                  if name.startswith("smoothgrad/")}
    attention = {name.removeprefix("attention/"): array for name, array in arrays.items()
                 if name not in _ATTENTION_RESERVED}
    if not attention:
        raise InputError("expected at least one (N, h, w) member of model attention maps",
                         path=path, field="attention")
    maps = {**attention, **smoothgrad, **{k: arrays[k] for k in ("human_maps",) if k in arrays}}
    first = next(iter(attention.values()))
    n = len(first) if first.ndim == 3 else -1
    for name, array in maps.items():
        if array.ndim != 3 or len(array) != n or not np.issubdtype(array.dtype, np.number):
            expected = f"(N, h, w) numeric maps with N = {n}" if n >= 0 else "(N, h, w) numeric maps"
            raise InputError(f"expected {expected} for every model, got {array.dtype} {array.shape}",
                             path=path, field=name)
    ids = ([str(i) for i in arrays["image_ids"].ravel()] if "image_ids" in arrays
           else [f"image {k + 1}" for k in range(n)])
    if len(ids) != n:
        raise InputError(f"expected {n} image ids (one per map), got {len(ids)}", path=path,
                         field="image_ids")
    shown = ids[:N_EXAMPLES]
    if "images" in arrays:
        try:
            images = dict(zip(ids, _display_images(arrays["images"])))
        except InputError as err:
            raise InputError(err.message, path=path, field="images") from None
        if len(images) != n:
            raise InputError(f"expected {n} images (one per map), got {len(arrays['images'])}",
                             path=path, field="images")
    else:
        images = {i: read_image(root / "clickme" / "images" / f"{i}.png") for i in shown}
    rows = {"ClickMe map": dict(zip(ids, arrays["human_maps"]))} if "human_maps" in arrays else {}
    rows.update({name: dict(zip(ids, maps)) for name, maps in attention.items()})
    smoothgrad = {name: dict(zip(ids, maps)) for name, maps in smoothgrad.items()}
    fig = figures.attention_panels({i: images[i] for i in shown}, rows,
                                   smoothgrad if len(smoothgrad) == 2 else None,
                                   titles=_labels(root))
    caption = ("Attention maps of each model over the images (each map divided by its maximum)"
               + ("; first map row: the ClickMe map" if "human_maps" in arrays else ""))
    if len(smoothgrad) == 2:
        first, second = smoothgrad
        caption += (f"; bottom row: SmoothGrad of {second} minus SmoothGrad of {first}, each "
                    "divided by its largest absolute value (red: larger for the former)")
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


def _explain_pngs(root: Path) -> list[Item]:
    """Panels ``clickme explain`` saved as PNG (optional: none is not a missing part)."""
    folder = root / "models" / "explain"
    paths = sorted(folder.glob("*.png")) if folder.is_dir() else []
    items = []
    for path in paths:
        shows = EXPLAIN_PANELS.get(path.stem)
        caption = (f"One row per image: the image, the human (ClickMe) map when one was given, then {shows}; "
                   "each map on its own colour scale, given by the bar beside it (written by "
                   f"`clickme explain`: models/explain/{path.name})." if shows else
                   f"A panel found in models/explain/ ({path.name}); the report does not know "
                   "what it shows.")
        items.append(Item(f"explain_{re.sub(r'[^A-Za-z0-9_.-]', '_', path.stem)}",
                          path.stem.replace("_", " ").capitalize(), caption, _need(path).read_bytes()))
    return items


def _game_maps(root: Path) -> list[Item]:
    fig, both = _example_map_figure(root, ("game", "game/maps.npz"), ("clickme", "clickme/maps.npz"))
    caption = ("Maps built from the ClickMe game's log by the same pipeline as the click logs "
               "(middle row)" + ("; bottom row: the ClickMe maps of the same images." if both else "."))
    return [Item("game_maps", "ClickMe game maps", caption, fig)]


def _game_statistics(root: Path) -> list[Item]:
    frame = read_table(root / "game" / "game_statistics.csv", ["scope", "unit", "statistic", "value"],
                       numeric=["value"])
    overall = frame[frame["scope"] == "game"][["statistic", "value"]].reset_index(drop=True)
    overall["value"] = overall["value"].astype(float).round(3)
    return [Item("game_statistics", "ClickMe game statistics",
                 "Rounds, bubbles, participants per image, the partner's success rate, points and "
                 "query latency over the whole game (per-image and per-player rows: "
                 "game/game_statistics.csv).", overall)]


def _learning_check(root: Path) -> list[Item]:
    path = root / "game" / "learning_check.csv"
    frame = read_table(path, ["mean_first", "mean_second", "t", "p"])
    return [Item("learning_check", "Did players learn the partner?",
                 "Partner success on the first vs second half of each player's rounds (paired t-test, "
                 "as the paper's check that frequent players did not learn the partner's preferences).",
                 _as_numbers(frame, path, frame.columns).round(3))]


#: The report's sections, in order: (part builder, its main input relative to the root; a
#: figure or table function's complaint about the data is located in that file).
SECTIONS: dict[str, list[tuple[Callable[[Path], list[Item]], str]]] = {
    "ClickMe maps": [(_clickme_maps, "clickme/maps.npz"),
                     (_participants, "clickme/participants_per_image.csv"),
                     (_reliability, "clickme/reliability_per_image.csv"),
                     (_reliability_summary, "clickme/reliability_summary.json"),
                     (_metrics, "clickme/metrics.csv")],
    "Stimuli": [(_contact_sheets, "stimuli/manifest.csv")],
    "Psychophysics": [(_psychophysics, "experiment/accuracy.csv"),
                      (_thresholds, "experiment/psychometric_params.csv"),
                      (psychophysics_figures.statistics_part, "experiment/rt.csv")],
    "Models": [(_model_scores, "models/scores.csv"), (_lambda_sweep, "models/sweep.csv"),
               (_training_curves, "models/curves.csv"), (_attention, "models/attention.npz"),
               (_explain_pngs, "models/explain")],
    "Alignment and model psychophysics": [
        (alignment_figures.alignment_part, "alignment/alignment_summary.csv"),
        (alignment_figures.model_psychophysics_part, "alignment/psychophysics_accuracy.csv")],
    "ClickMe game": [(_game_maps, "game/maps.npz"), (_game_statistics, "game/game_statistics.csv"),
                     (_learning_check, "game/learning_check.csv")],
}


def gather(inputs, progress: bool = False) -> Gathered:
    """Build every report part whose inputs exist under ``inputs``.

    Parameters
    ----------
    inputs : str or os.PathLike
        The outputs root (``clickme/``, ``stimuli/``, ``experiment/``, ``models/`` below it).
    progress : bool
        Show a tqdm bar over the parts.

    Returns
    -------
    Gathered
        Items per section; ``missing`` lists absent inputs, ``problems`` the inputs that were
        present but unusable (with the reason), ``provenance`` who produced each stage's data
        (:func:`provenance`). Parts built from simulated data say so in their caption, and the
        first section ("Data") tabulates the provenance.
    """
    from clickme_analysis.progress import progress as progress_bar

    root = Path(inputs)
    if not root.is_dir():
        raise InputError("expected a directory of toolkit outputs", path=root)
    result = Gathered(inputs=root)
    try:
        result.provenance = provenance(root)
    except InputError as err:
        result.problems.append(f"Data: provenance: {err}")
    if result.provenance:
        result.sections["Data"] = [Item(
            "provenance", "Where the data come from",
            "Who produced each stage's data, as the stage recorded it (session records, or the "
            "demo's log). Parts built from simulated data say so in their captions.",
            _provenance_table(result.provenance))]
    parts = [(section, *part) for section, section_parts in SECTIONS.items()
             for part in section_parts]
    for section, build, main_input in progress_bar(parts, enabled=progress, desc="report parts"):
        name = build.__name__.strip("_").replace("_", " ")
        try:
            items = build(root)
        except Missing as err:
            result.missing.append(f"{section}: {name} (needs {err})")
            continue
        except InputError as err:
            if err.path is None:
                err = InputError(err.message, path=root / main_input, line=err.line,
                                 field=err.field)
            result.problems.append(f"{section}: {name}: {err}")
            continue
        origin = result.provenance.get(main_input.split("/")[0])
        for item in items if origin is not None and origin.note else ():
            item.caption = f"{item.caption} {origin.note}"
        if items:
            result.sections.setdefault(section, []).extend(items)
    return result


# ----------------------------------------------------------------------------- writing
_CSS = """
body { font-family: "DejaVu Sans", Arial, sans-serif; max-width: 980px; margin: 2em auto;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; height: auto; display: block; }
figcaption { font-size: .9em; color: #444; margin-top: .4em; }
table { border-collapse: collapse; font-size: .9em; margin: .5em 0; }
th, td { padding: .25em .7em; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.missing { color: #8a4b00; } .files { font-size: .85em; color: #666; }
.simulated { background: #fff4d6; border-left: 4px solid #e69f00; padding: .5em .8em; }
"""


#: Figures are saved at 200 dpi; shown at this fraction of their pixel width (about 150 px
#: per inch, so 8 pt text reads at about 16 px).
_DISPLAY_SCALE = 0.75


def _display_width(png: bytes) -> int:
    """CSS width of a PNG in the page: its pixel width (IHDR) times the display scale."""
    return round(int.from_bytes(png[16:20], "big") * _DISPLAY_SCALE)


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("clickme-toolkit")
    except PackageNotFoundError:
        return "(not installed)"


def _table_html(item: Item, number: int, out: Path) -> str:
    esc = html.escape
    paths = tables.write_table(item.content, out / "tables" / item.name, item.caption)
    files = ", ".join(f"<code>tables/{esc(p.name)}</code>" for p in paths)
    return (f"<h3 id='{esc(item.name)}'>Table {number}. {esc(item.title)}</h3>"
            f"<p>{esc(item.caption)}</p>"
            + tables.formatted(item.content).to_html(index=False, border=0)
            + f"<p class='files'>{files}</p>")


def _figure_html(item: Item, number: int, out: Path) -> str:
    from reports.style import save_figure

    esc = html.escape
    if isinstance(item.content, bytes):  # a PNG written by another stage, embedded as it is
        png = item.content
        (out / "figures" / f"{item.name}.png").write_bytes(png)
        files = [f"{item.name}.png"]
    else:
        paths = save_figure(item.content, out / "figures" / item.name)
        png = paths[1].read_bytes()
        files = [p.name for p in paths]
    return (f"<figure id='{esc(item.name)}'><img src='{_data_uri(png)}' "
            f"style='width: {_display_width(png)}px' alt='{esc(item.title)}'>"
            f"<figcaption><b>Figure {number}. {esc(item.title)}.</b> {esc(item.caption)} "
            f"<span class='files'>({esc(', '.join('figures/' + f for f in files))})</span>"
            "</figcaption></figure>")


def write_report(gathered: Gathered, out) -> Path:
    """Save figures and tables under ``out`` and write the self-contained ``report.html``.

    Returns
    -------
    pathlib.Path
        ``out/report.html``.
    """
    esc = html.escape
    out = Path(out)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    contents, body, counts = [], [], {"figure": 0, "table": 0}
    for section, items in gathered.sections.items():
        body.append(f"<section><h2>{esc(section)}</h2>")
        for item in items:
            kind = "table" if isinstance(item.content, pd.DataFrame) else "figure"
            counts[kind] += 1
            render = _table_html if kind == "table" else _figure_html
            body.append(render(item, counts[kind], out))
            contents.append(f"<li><a href='#{esc(item.name)}'>{kind.title()} {counts[kind]}. "
                            f"{esc(item.title)}</a></li>")
        body.append("</section>")
    head = ["<h1>ClickMe toolkit report</h1>",
            f"<p class='files'>Inputs: <code>{esc(str(gathered.inputs.resolve()))}</code>; "
            f"clickme-toolkit {esc(_version())}</p>"]
    simulated = [p for p in gathered.provenance.values() if p.simulated]
    if simulated:
        head.append("<p class='simulated' id='simulated'><b>Simulated data.</b> "
                    + "; ".join(esc(f"{p.stage}: {p.detail.split('; ')[0]}") for p in simulated)
                    + ". These results show what the toolkit computes, not findings about people.</p>")
    head.append(f"<nav><ul>{''.join(contents)}</ul></nav>")
    if gathered.missing or gathered.problems:
        head.append("<section id='missing'><h2>Missing parts</h2><ul class='missing'>"
                    + "".join(f"<li>{esc(m)}</li>" for m in gathered.missing)
                    + "".join(f"<li>unusable: {esc(p)}</li>" for p in gathered.problems)
                    + "</ul></section>")
    page = ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            "<title>ClickMe toolkit report</title>"
            f"<style>{_CSS}</style></head><body>\n" + "\n".join(head + body)
            + "\n</body></html>\n")
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


def build_report(inputs: Path, out: Path, progress: bool = False) -> Path:
    """Gather the outputs under ``inputs`` and write ``out/report.html`` (and figures, tables).

    Parameters
    ----------
    inputs : pathlib.Path
        The outputs root of ``clickme demo`` (``clickme/``, ``stimuli/``, ``experiment/``,
        ``models/``).
    out : pathlib.Path
        Report folder; created if needed.
    progress : bool
        Show a tqdm bar over the report parts.

    Returns
    -------
    pathlib.Path
        The path of ``report.html``.
    """
    return write_report(gather(inputs, progress=progress), out)
