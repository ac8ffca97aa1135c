"""Model psychophysics: a reveal stimulus set through any model, read out as the humans' task.

:func:`model_psychophysics` runs every stimulus of a ``clickme stimuli build`` set through the
model, a readout (:mod:`models.readout`) to P(animal), correct when the decision matches the
image's category; accuracy per map source and level and psychometric fits
(:func:`psychophysics_tables`) come from :mod:`clickme_analysis.psychophysics`, with images in
the role of participants (their bootstrap resamples images).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from clickme_analysis.errors import InputError
from clickme_analysis.fileio import read_table
from clickme_analysis.progress import progress as progress_bar
from clickme_analysis.psychophysics.descriptives import accuracy_by_level
from clickme_analysis.psychophysics.psychometric import psychometric_fit
from clickme_analysis.psychophysics.trials import INTACT
from models.alignment_loading import LoadedModel
from models.alignment_scoring import AlignmentOptions
from models.decode import read_image
from models.explain import autocast
from models.readout import default_readout


def _stimulus_table(stimulus_dir) -> tuple[Path, pd.DataFrame]:
    root = Path(stimulus_dir)
    manifest = root / "manifest.csv" if root.is_dir() else root
    table = read_table(
        manifest,
        ["image_id", "map_source", "level", "path", "target"],
        "stimulus manifest",
        dtype={"image_id": str, "map_source": str, "path": str},
        keep_default_na=False,
    )
    target = table["target"].astype(str).str.strip().str.lower()
    bad = ~target.isin(["true", "false", "1", "0"])
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            f"expected target true/false (animal or not; build the set with --labels), got {table['target'].iloc[i]!r}",
            path=manifest,
            line=i + 2,
            field="target",
        )
    return manifest.parent, table.assign(target=target.isin(["true", "1"]))


def model_psychophysics(
    models: Sequence[LoadedModel],
    stimulus_dir,
    readouts: Mapping | None = None,
    options: AlignmentOptions | None = None,
) -> pd.DataFrame:
    """Run every stimulus of a reveal set through each model: one row per model and stimulus.

    Parameters
    ----------
    models : sequence of LoadedModel
    stimulus_dir : path
        A ``clickme stimuli build`` folder (``manifest.csv`` with ``target`` from ``--labels``).
    readouts : Mapping model name -> callable, optional
        Logits (N, K) -> P(animal) (N,); default :func:`models.readout.default_readout`.

    Returns
    -------
    DataFrame
        ``model, readout, image_id, map_source, level, p_animal, decision, target, correct``.
    """
    options = options or AlignmentOptions()
    root, table = _stimulus_table(stimulus_dir)
    device, amp = options.resolved_device(), options.resolved_amp()
    frames = []
    for model in models:
        readout = (readouts or {}).get(model.name) or default_readout(model.num_classes)
        module = model.module.to(device).eval()
        p_animal = []
        batches = range(0, len(table), options.batch_size * 4)
        for start in progress_bar(batches, enabled=options.progress, desc=f"psychophysics {model.name}", unit="batch"):
            part = table.iloc[start : start + options.batch_size * 4]
            inputs = torch.stack([model.preprocessing.apply(read_image(root / p)) for p in part["path"]])
            with torch.no_grad(), autocast(device, amp):
                p_animal.append(readout(module(inputs.to(device)).float()).cpu().numpy())
        p = np.concatenate(p_animal)
        frames.append(
            pd.DataFrame(
                {
                    "model": model.name,
                    "readout": getattr(readout, "name", repr(readout)),
                    "image_id": table["image_id"].to_numpy(),
                    "map_source": table["map_source"].to_numpy(),
                    "level": table["level"].astype(float).to_numpy(),
                    "p_animal": p,
                    "decision": p > 0.5,
                    "target": table["target"].to_numpy(),
                    "correct": (p > 0.5) == table["target"].to_numpy(),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _as_trials(rows: pd.DataFrame) -> pd.DataFrame:
    """Model responses as psychophysics trials: images as participants, a group per map source.

    The intact image belongs to every map source's condition (as for the humans, whose groups
    each saw intact images), so its rows are repeated once per source.
    """
    sources = sorted(set(rows["map_source"]) - {INTACT})
    revealed = rows[rows["map_source"] != INTACT].assign(group=lambda t: t["map_source"])
    intact = rows[rows["map_source"] == INTACT]
    parts = [revealed] + [intact.assign(group=s) for s in sources]
    trials = pd.concat(parts, ignore_index=True).rename(columns={"image_id": "participant"})
    return trials.assign(rt=np.nan, timed_out=False, excluded=False, exclusion="")


def psychophysics_tables(
    rows: pd.DataFrame, n_boot: int = 200, seed: int = 0, progress: bool = False
) -> dict[str, pd.DataFrame]:
    """Accuracy per map source and level, and a psychometric fit, for each model.

    Returns
    -------
    dict
        ``accuracy``: ``model, group, level, intact, accuracy, sem, n_images`` (the humans'
        ``accuracy.csv`` columns; S.E.M. over images); ``params``: ``model, group, threshold,
        threshold_ci_low, threshold_ci_high, alpha, beta, lapse, n_images, n_trials,
        threshold_in_range`` (logistic fit, image-bootstrap CIs; a threshold outside the levels
        tested, as a flat curve gives, is NaN); ``curve``: ``model, group, level, predicted,
        ci_low, ci_high``.
    """
    accuracy, params, curves = [], [], []
    for model, group in rows.groupby("model", sort=False):
        trials = _as_trials(group)
        accuracy.append(accuracy_by_level(trials).assign(model=model))
        fit, curve = psychometric_fit(trials, n_boot=n_boot, seed=seed, progress=progress)
        # a flat curve (a model at chance, or at ceiling throughout) has no threshold: the fit
        # then puts it at a bound far outside the levels tested; report NaN instead
        revealed = trials.loc[trials["map_source"] != "intact", "level"]
        outside = ~fit["threshold"].between(revealed.min(), revealed.max())
        fit.loc[outside, ["threshold", "threshold_ci_low", "threshold_ci_high"]] = np.nan
        params.append(fit.assign(model=model, threshold_in_range=~outside))
        curves.append(curve.assign(model=model))

    def first(frames):
        frame = pd.concat(frames, ignore_index=True).rename(columns={"n_participants": "n_images"})
        return frame[["model"] + [c for c in frame.columns if c != "model"]]

    return {"accuracy": first(accuracy), "params": first(params), "curve": first(curves)}


def threshold_table(model_params: pd.DataFrame, human_params: pd.DataFrame | None = None) -> pd.DataFrame:
    """Psychometric thresholds of the models beside the humans' (``model`` = ``human``)."""
    columns = ["model", "group", "threshold", "threshold_ci_low", "threshold_ci_high"]
    frames = [model_params[columns]]
    if human_params is not None:
        frames.insert(0, human_params.assign(model="human")[columns])
    return pd.concat(frames, ignore_index=True)
