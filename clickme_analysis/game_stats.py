"""Statistics of ClickMe game logs: rounds, bubbles and participants per image, the partner's
success rate, points per participant, and the paper's check that frequent players did not learn
the partner's preferences (success on the first vs the second half of each player's rounds,
paired t-test; Linsley et al., 2019, Appendix).

The log is the game's JSON lines (``experiments.game``): one object per round with
``image_id, participant_id, round, x, y, t, success, points`` and optional ``skipped`` and
``guesses``. Skipped rounds count as rounds of their image and player but not in success rates,
points or bubbles.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from clickme_analysis.errors import InputError
from clickme_analysis.fileio import read_jsonl

ROUND_COLUMNS = [
    "image_id",
    "participant_id",
    "round",
    "n_bubbles",
    "success",
    "points",
    "skipped",
    "success_t",
    "n_queries",
    "latency_ms",
]

_REQUIRED = {"image_id": str, "participant_id": str, "round": int, "x": list, "success": bool, "points": (int, float)}


def _round_row(record, path, line: int) -> list:
    if not isinstance(record, dict):
        raise InputError(f"expected a JSON object, got {type(record).__name__}", path=path, line=line)
    for name, kind in _REQUIRED.items():
        value = record.get(name)
        if (
            value is None
            or not isinstance(value, kind)
            or (kind is int and isinstance(value, bool))
            or (kind is str and not value.strip())
        ):
            expected = kind.__name__ if isinstance(kind, type) else "a number"
            raise InputError(f"expected {expected}, got {value!r}", path=path, line=line, field=name)
    skipped = bool(record.get("skipped", False))
    points = float(record["points"])
    if not 0 <= points <= 1:
        raise InputError(f"expected points in [0, 1], got {points}", path=path, line=line, field="points")
    guesses = record.get("guesses") or []
    latencies = [g["latency_ms"] for g in guesses if isinstance(g, dict) and "latency_ms" in g]
    return [
        record["image_id"],
        record["participant_id"],
        record["round"],
        0 if skipped else len(record["x"]),
        bool(record["success"]),
        points,
        skipped,
        record.get("success_t"),
        len(guesses),
        float(np.mean(latencies)) if latencies else np.nan,
    ]


def read_game_log(path) -> pd.DataFrame:
    """Read a game log into one row per round.

    Parameters
    ----------
    path : str or os.PathLike
        JSON-lines game log.

    Returns
    -------
    DataFrame
        ``image_id, participant_id, round, n_bubbles, success, points, skipped, success_t``
        (ms, NaN when the partner failed), ``n_queries``, ``latency_ms`` (mean partner latency).

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "game_log.jsonl")
    >>> _ = open(p, "w").write('{"image_id": "cat", "participant_id": "u1", "round": 1, "x": [1, 2], '
    ...                        '"y": [3, 4], "t": [0, 50], "success": true, "points": 0.5}\\n')
    >>> read_game_log(p)[["image_id", "n_bubbles", "points"]].values.tolist()
    [['cat', 2, 0.5]]
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("game log not found", path=path)
    rows = [_round_row(record, path, line) for line, record in read_jsonl(path)]
    if not rows:
        raise InputError("expected at least one round, the log is empty", path=path)
    frame = pd.DataFrame(rows, columns=ROUND_COLUMNS)
    frame["success_t"] = pd.to_numeric(frame["success_t"], errors="coerce")
    return frame


def image_statistics(rounds: pd.DataFrame) -> pd.DataFrame:
    """Per image: ``image_id, n_rounds, n_skipped, n_participants, n_bubbles, success_rate``."""
    played = rounds.assign(played=~rounds["skipped"], hit=rounds["success"] & ~rounds["skipped"])
    out = (
        played.groupby("image_id", sort=True)
        .agg(
            n_rounds=("round", "size"),
            n_skipped=("skipped", "sum"),
            n_participants=("participant_id", "nunique"),
            n_bubbles=("n_bubbles", "sum"),
            n_played=("played", "sum"),
            n_success=("hit", "sum"),
        )
        .reset_index()
    )
    out["success_rate"] = out["n_success"] / out["n_played"].where(out["n_played"] > 0)
    return out.drop(columns=["n_played", "n_success"]).astype({"n_skipped": int, "n_bubbles": int})


def participant_statistics(rounds: pd.DataFrame) -> pd.DataFrame:
    """Per participant: ``participant_id, n_rounds, n_skipped, total_points, mean_points, success_rate``."""
    played = rounds[~rounds["skipped"]]
    base = rounds.groupby("participant_id", sort=True).agg(n_rounds=("round", "size"), n_skipped=("skipped", "sum"))
    scores = played.groupby("participant_id").agg(
        total_points=("points", "sum"), mean_points=("points", "mean"), success_rate=("success", "mean")
    )
    return base.join(scores).reset_index().astype({"n_skipped": int})


def game_statistics(rounds: pd.DataFrame) -> pd.DataFrame:
    """All game statistics as one tidy table.

    Returns
    -------
    DataFrame
        ``scope, unit, statistic, value``: ``scope`` is ``game`` (``unit`` = ``all``:
        n_rounds, n_skipped, n_images, n_participants, n_bubbles, success_rate, mean_points,
        mean_success_t (ms), mean_latency_ms, mean_participants_per_image), ``image`` (unit =
        image id, the columns of :func:`image_statistics`) or ``participant`` (unit = participant
        id, the columns of :func:`participant_statistics`).
    """
    played = rounds[~rounds["skipped"]]
    per_image, per_player = image_statistics(rounds), participant_statistics(rounds)
    overall = {
        "n_rounds": len(rounds),
        "n_skipped": int(rounds["skipped"].sum()),
        "n_images": rounds["image_id"].nunique(),
        "n_participants": rounds["participant_id"].nunique(),
        "n_bubbles": int(played["n_bubbles"].sum()),
        "success_rate": float(played["success"].mean()) if len(played) else np.nan,
        "mean_points": float(played["points"].mean()) if len(played) else np.nan,
        "mean_success_t": float(played["success_t"].mean()),
        "mean_latency_ms": float(played["latency_ms"].mean()),
        "mean_participants_per_image": float(per_image["n_participants"].mean()),
    }
    parts = [
        pd.DataFrame(
            {"scope": "game", "unit": "all", "statistic": list(overall), "value": [float(v) for v in overall.values()]}
        )
    ]
    for scope, table, key in (("image", per_image, "image_id"), ("participant", per_player, "participant_id")):
        long = table.melt(id_vars=key, var_name="statistic", value_name="value").rename(columns={key: "unit"})
        long = long.assign(scope=scope, value=long["value"].astype(float))
        parts.append(long[["scope", "unit", "statistic", "value"]])
    return pd.concat(parts, ignore_index=True)


def half_success(rounds: pd.DataFrame, min_rounds: int = 2) -> pd.DataFrame:
    """Each player's partner success rate on the first and the second half of their played rounds.

    Rounds are ordered by ``round``; with an odd count the middle round is left out. Players
    with fewer than ``min_rounds`` played rounds are left out.

    Returns
    -------
    DataFrame
        ``participant_id, n_rounds, first_half, second_half``.

    Examples
    --------
    >>> r = pd.DataFrame({"participant_id": "a", "round": [1, 2, 3, 4, 5],
    ...                   "success": [True, False, True, True, True], "skipped": False})
    >>> half_success(r).values.tolist()
    [['a', 5, 0.5, 1.0]]
    """
    if min_rounds < 2:
        raise InputError(f"expected min_rounds >= 2 (two halves), got {min_rounds}", field="min_rounds")
    rows = []
    played = rounds[~rounds["skipped"].astype(bool)]
    for participant, group in played.groupby("participant_id", sort=True):
        if len(group) < min_rounds:
            continue
        success = group.sort_values("round")["success"].to_numpy(dtype=float)
        half = len(success) // 2
        rows.append((participant, len(success), success[:half].mean(), success[-half:].mean()))
    return pd.DataFrame(rows, columns=["participant_id", "n_rounds", "first_half", "second_half"])


def learning_check(rounds: pd.DataFrame, min_rounds: int = 2) -> pd.DataFrame:
    """Did players learn the partner's preferences? Paired t-test of each player's success rate on
    the second vs the first half of their rounds (the paper found no difference).

    Parameters
    ----------
    rounds : DataFrame
        From :func:`read_game_log` (``participant_id, round, success, skipped``).
    min_rounds : int
        Players with fewer played rounds are left out (the paper used frequent players).

    Returns
    -------
    DataFrame
        One row: ``n_participants, min_rounds, mean_first, mean_second, mean_difference, t, dof,
        p, ci_low, ci_high`` (95 % CI of the mean difference second - first; NaN where fewer
        than two players qualify or the differences have no spread).
    """
    halves = half_success(rounds, min_rounds)
    n = len(halves)
    diff = (halves["second_half"] - halves["first_half"]).to_numpy()
    t = p = low = high = np.nan
    if n >= 2 and np.std(diff) > 0:
        result = stats.ttest_rel(halves["second_half"], halves["first_half"])
        t, p = float(result.statistic), float(result.pvalue)
        low, high = result.confidence_interval(0.95)
    return pd.DataFrame(
        [
            {
                "n_participants": n,
                "min_rounds": min_rounds,
                "mean_first": float(halves["first_half"].mean()) if n else np.nan,
                "mean_second": float(halves["second_half"].mean()) if n else np.nan,
                "mean_difference": float(diff.mean()) if n else np.nan,
                "t": t,
                "dof": n - 1 if n else np.nan,
                "p": p,
                "ci_low": float(low),
                "ci_high": float(high),
            }
        ]
    )
