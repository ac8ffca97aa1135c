"""The trial table: its columns, its reader and its checks.

One row per trial, as written by the ``experiments`` runner (``data/<participant>.csv``) or made
from BIDS events files (:mod:`clickme_analysis.events`); :func:`validate_trials` types any frame
and :func:`load_trials` reads runner CSVs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from clickme_analysis.errors import InputError
from clickme_analysis.fileio import collect_files

#: Columns a trial table must have.
REQUIRED_COLUMNS = ("participant", "group", "level", "map_source", "correct", "rt", "timed_out")
#: ``map_source`` of the full (intact) image, the condition every revealed level is compared with.
INTACT = "intact"


def _bool_column(frame, field, path):
    text = frame[field].astype(str).str.strip().str.lower()
    mapping = {"1": True, "0": False, "true": True, "false": False, "1.0": True, "0.0": False}
    bad = ~text.isin(list(mapping))
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            f"expected 0/1 or true/false, got {frame[field].iloc[i]!r}", path=path, line=i + 2, field=field
        )
    return text.map(mapping).astype(bool)


def validate_trials(frame: pd.DataFrame, path=None) -> pd.DataFrame:
    """Check and coerce a trial table (see ``REQUIRED_COLUMNS``); returns a typed copy.

    ``correct`` and ``timed_out`` become bool, ``level`` and ``rt`` (s, empty when no response)
    float, ``participant`` and ``group`` str.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(f"trial table lacks columns {missing}; has {list(frame.columns)}", path=path, field=missing[0])
    out = frame.copy()
    for field in ("participant", "group", "map_source"):
        out[field] = out[field].astype(str)
    for field in ("correct", "timed_out"):
        out[field] = _bool_column(out, field, path)
    for field, positive in (("level", True), ("rt", False)):
        values = pd.to_numeric(out[field], errors="coerce")
        bad = values.isna() & out[field].notna() if not positive else values.isna() | (values <= 0)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            expected = "a positive number" if positive else "a number or empty"
            raise InputError(f"expected {expected}, got {out[field].iloc[i]!r}", path=path, line=i + 2, field=field)
        out[field] = values.astype(float)
    answered = ~out["timed_out"] & out["rt"].isna()
    if answered.any():
        i = int(np.flatnonzero(answered.to_numpy())[0])
        raise InputError("a response (timed_out = 0) needs an rt", path=path, line=i + 2, field="rt")
    return out


def load_trials(paths, phase: str | None = "test") -> pd.DataFrame:
    """Read runner CSVs (files or folders of ``*.csv``) into one validated trial table.

    Parameters
    ----------
    paths : str, Path or list of them
        ``data/<participant>.csv`` files, or folders holding them.
    phase : str or None
        Keep rows of this ``phase`` (the runner writes ``training`` and ``test``); None keeps all.

    Returns
    -------
    pandas.DataFrame
        The runner's columns, typed as :func:`validate_trials` says.
    """
    frames = []
    for path in collect_files(paths, (".csv",), what="trial CSV files"):
        try:
            frame = pd.read_csv(path, dtype={"participant": str, "response": str})
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
            raise InputError(f"not a readable trial CSV ({err})", path=path) from None
        frame = validate_trials(frame, path)
        if phase is not None and "phase" in frame.columns:
            frame = frame[frame["phase"] == phase]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def mark_intact(trials: pd.DataFrame) -> pd.DataFrame:
    """``trials`` plus ``intact`` (bool): the trial showed the full image (``map_source`` = ``intact``).

    Examples
    --------
    >>> mark_intact(pd.DataFrame({"map_source": ["intact", "clickme"]}))["intact"].tolist()
    [True, False]
    """
    return trials.assign(intact=trials["map_source"] == INTACT)
