"""How many players does each image need? Split-half reliability against participants per image.

For ``m`` = 1, 2, ... participants per map, each iteration draws ``2 m`` distinct participants of
every image in the set, sums and blurs the maps of each half (``m`` each) and takes Spearman's
rho between the halves: the correlation of two independent ``m``-player maps, i.e. the
reliability of an ``m``-player map (at ``m`` = 1 the paper's inter-rater measure). The null pairs
one half of an image with a half of the previous image of the set (same ``m``). Every ``m`` uses
the same images (those with at least ``2 m_max`` participants), so the curve is not confounded
by which images are popular.

Beyond the measured range the **Spearman-Brown** prophecy projects the largest measured value
``r0`` at ``m0``: ``r(m) = k r0 / (1 + (k - 1) r0)`` with ``k = m / m0``, and the players per image
for a reliability ``r`` are ``m0 r (1 - r0) / (r0 (1 - r))``. Its assumptions: the maps of one
image are independent, exchangeable draws around one true map (no player is better than
another, no order effect, no drift between the log's players and the future ones), and the
reliability of a sum follows the classical (Pearson) rule. Spearman's rho of blurred maps does
not: pixels where the true map is flat (background, a floor of stray clicks) keep noisy ranks
however many players are summed, so rho levels off below 1, and on simulated logs plain
Spearman-Brown overshot a larger log by 0.05-0.2 (tests/clickme_analysis/
test_reliability_curve.py). The curve therefore also fits ``rho(m) = c SB(a, m)``
(Spearman-Brown with a ceiling ``c``, :func:`ceiling_fit`) to the measured points; with three or
more of them the summary's "participants per image for reliability r" uses that fit, and says
``none`` for an ``r`` above its ceiling. Intervals are the 2.5 / 97.5 percentiles over
iterations (subsampling variability, not sampling of images).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import curve_fit

from clickme_analysis.errors import InputError
from clickme_analysis.maps import blur_map, box_sums
from clickme_analysis.progress import progress as bar
from clickme_analysis.ranks import spearman_rows
from clickme_analysis.reliability import (
    _member_pairs,
    _paint_pairs,
    _participants_of_images,
    _record_keys,
    _split_half_store,
    spearman_brown,
)

#: Reliabilities the summary answers "participants per image for reliability r" for.
TARGETS = (0.5, 0.7, 0.8, 0.9)


def _blurred(counts, blur, blur_size, sigma) -> np.ndarray:
    total = counts.sum(axis=0, dtype=np.int64)
    if blur == "box":
        return box_sums(total, blur_size).astype(np.float64).ravel()
    if blur is None:
        return total.astype(np.float64).ravel()
    return blur_map(total, blur, blur_size, sigma).astype(np.float64).ravel()


def _choose_images(store, kept, max_per_half, n_images, seed):
    """The images of the curve and ``m_max``: the largest ``m`` for which >= 2 images (at most
    ``n_images``) have ``2 m`` participants, unless ``max_per_half`` is given."""
    counts = _participants_of_images(store, kept, 2)
    if len(counts) < 2:
        raise InputError(f"expected at least 2 images with 2+ participants, got {len(counts)}", field="clicks")
    sizes = np.array(sorted((len(p) for _, p in counts.values()), reverse=True))
    m_max = int(sizes[1] // 2) if max_per_half is None else int(max_per_half)
    if m_max < 1 or (sizes >= 2 * m_max).sum() < 2:
        raise InputError(
            f"expected at least 2 images with {2 * m_max} participants for {m_max} per half; "
            f"the two largest have {sizes[:2].tolist()}",
            field="max_per_half",
        )
    eligible = {k: v for k, v in counts.items() if len(v[1]) >= 2 * m_max}
    names = sorted(eligible)
    if n_images is not None and n_images < len(names):
        names = sorted(np.random.default_rng(seed).choice(names, size=max(n_images, 2), replace=False).tolist())
    return {name: eligible[name] for name in names}, m_max


def reliability_curve(
    clicks,
    *,
    n_iterations: int = 10,
    max_per_half: int | None = None,
    n_images: int | None = 200,
    shape=(256, 256),
    bubble_size: int = 14,
    bubble: str = "square",
    blur: str | None = "box",
    blur_size: int = 49,
    sigma: float | None = None,
    seed=0,
    min_clicks: int = 0,
    max_clicks: int | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Split-half reliability (and its null) per number of participants per map, measured.

    Returns
    -------
    pandas.DataFrame
        ``participants_per_image, iteration, distribution (human / null), rho, n_images``: the
        mean over images of rho between two independent maps of ``participants_per_image``
        players each.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> rows = [(f"im{i}", f"p{p}", *rng.normal([10 + 10 * i, 20], 3, 2)) for i in range(3) for p in range(4)
    ...         for _ in range(5)]
    >>> clicks = pd.DataFrame(rows, columns=["image_id", "participant_id", "x", "y"])
    >>> curve = reliability_curve(clicks, n_iterations=2, shape=(40, 40), bubble_size=3, blur_size=5)
    >>> sorted(set(curve["participants_per_image"].tolist())), len(curve)
    ([1, 2], 8)
    """
    store, kept = _split_half_store(clicks, n_iterations, min_clicks, max_clicks)
    chosen, m_max = _choose_images(store, kept, max_per_half, n_images, seed)
    order = {code: k for k, (code, _) in enumerate(chosen.values())}
    members = dict(chosen.values())
    sums = np.zeros((2, m_max, n_iterations))
    first_a = previous = None  # A halves of the first image, B halves of the last one seen: the null
    with bar(total=len(members), enabled=progress, desc="reliability curve", unit="image") as shown:
        for records in store.buckets(pairs=_member_pairs(members), max_clicks=max_clicks):
            keys = _record_keys(records)
            for code in sorted(np.unique(records["image"]), key=lambda c: order[c]):
                people = members[code]
                pair_keys = (np.int64(code) << 32) | people.astype(np.int64)
                counts = _paint_pairs(records, pair_keys, shape, bubble_size, bubble, None, 1, None, keys=keys)
                rng = np.random.default_rng([*np.atleast_1d(seed).tolist(), order[code]])
                halves = _curve_halves(
                    counts.reshape(len(people), *shape), rng, m_max, n_iterations, blur, blur_size, sigma
                )
                sums[0] += spearman_rows(halves[0], halves[1]).reshape(m_max, n_iterations)
                if previous is not None:
                    sums[1] += spearman_rows(halves[0], previous).reshape(m_max, n_iterations)
                else:
                    first_a = halves[0].copy()
                previous = halves[1].copy()
                shown.update(1)
    sums[1] += spearman_rows(first_a, previous).reshape(m_max, n_iterations)  # the first image's null partner
    return _curve_frame(sums / len(members), len(members))


def _curve_halves(counts: np.ndarray, rng, m_max: int, n_iterations: int, blur, blur_size: int, sigma) -> np.ndarray:
    """Two independent half maps of ``m`` participants, per ``m`` in 1..``m_max`` and iteration,
    from each iteration's permutation of the image's participants: (2, m_max * n_iterations, P)."""
    halves = np.empty((2, m_max, n_iterations, int(np.prod(counts.shape[1:]))), dtype=np.float32)
    for it in range(n_iterations):
        draw = rng.permutation(len(counts))
        for m in range(1, m_max + 1):
            halves[0, m - 1, it] = _blurred(counts[draw[:m]], blur, blur_size, sigma)
            halves[1, m - 1, it] = _blurred(counts[draw[m : 2 * m]], blur, blur_size, sigma)
    return halves.reshape(2, -1, halves.shape[-1])


def _curve_frame(means: np.ndarray, n_images: int) -> pd.DataFrame:
    """The tidy curve from the (human / null, m, iteration) means over images."""
    _, m_max, n_iterations = means.shape
    m_index, it_index = np.meshgrid(np.arange(1, m_max + 1), np.arange(n_iterations), indexing="ij")
    frames = [
        pd.DataFrame(
            {
                "participants_per_image": m_index.ravel(),
                "iteration": it_index.ravel(),
                "distribution": name,
                "rho": means[k].ravel(),
                "n_images": n_images,
            }
        )
        for k, name in enumerate(("human", "null"))
    ]
    return pd.concat(frames, ignore_index=True)


def ceiling_fit(m, rho) -> tuple[float, float]:
    """Least-squares ``(c, a)`` of ``rho(m) = c * SB(a, m) = c m a / (1 + (m - 1) a)``, both in [0, 1]:
    Spearman-Brown with a ceiling ``c`` (plain Spearman-Brown is ``c = 1``).

    Examples
    --------
    >>> m = np.arange(1, 6)
    >>> c, a = ceiling_fit(m, 0.8 * spearman_brown(0.4, m))
    >>> round(c, 3), round(a, 3)
    (0.8, 0.4)
    """
    m, rho = np.asarray(m, dtype=float), np.asarray(rho, dtype=float)
    model = lambda m, c, a: c * spearman_brown(a, m)  # noqa: E731
    (c, a), _ = curve_fit(model, m, rho, p0=(0.9, max(min(rho[0], 0.9), 0.05)), bounds=([0, 0], [1, 1]))
    return float(c), float(a)


def curve_table(curve: pd.DataFrame, project_to: int | None = None) -> pd.DataFrame:
    """Mean and 95% subsampling interval per ``m`` and distribution (``source`` = ``measured``),
    and two projections of the human curve up to ``project_to`` (default 4 x the largest measured
    ``m``): ``spearman_brown`` from the largest measured ``m``, and, with three or more measured
    ``m``, ``ceiling_fit`` (:func:`ceiling_fit` on the measured means; it tracked a larger
    simulated log where plain Spearman-Brown overshot: docs/metrics.md)."""
    table = (
        curve.groupby(["distribution", "participants_per_image"])
        .agg(
            rho=("rho", "mean"),
            ci_low=("rho", lambda r: np.percentile(r, 2.5)),
            ci_high=("rho", lambda r: np.percentile(r, 97.5)),
            n_images=("n_images", "first"),
        )
        .reset_index()
    )
    table["source"] = "measured"
    human = table[table["distribution"] == "human"].sort_values("participants_per_image")
    m0, row = int(human["participants_per_image"].iloc[-1]), human.iloc[-1]
    ms = np.arange(m0 + 1, (project_to or 4 * m0) + 1)
    parts = [table]
    if len(ms):
        k = ms / m0
        parts.append(
            pd.DataFrame(
                {
                    "distribution": "human",
                    "participants_per_image": ms,
                    "rho": spearman_brown(row["rho"], k),
                    "ci_low": spearman_brown(row["ci_low"], k),
                    "ci_high": spearman_brown(row["ci_high"], k),
                    "n_images": row["n_images"],
                    "source": "spearman_brown",
                }
            )
        )
    if len(ms) and len(human) >= 3:
        c, a = ceiling_fit(human["participants_per_image"], human["rho"])
        fitted = c * spearman_brown(a, ms)
        parts.append(
            pd.DataFrame(
                {
                    "distribution": "human",
                    "participants_per_image": ms,
                    "rho": fitted,
                    "ci_low": np.nan,
                    "ci_high": np.nan,
                    "n_images": row["n_images"],
                    "source": "ceiling_fit",
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def participants_for(table: pd.DataFrame, targets=TARGETS) -> pd.DataFrame:
    """Participants per image for each target reliability: the smallest measured ``m`` reaching it,
    else the projection (``source``): the ceiling fit when three or more ``m`` were measured
    (``none`` when the target lies above its ceiling), else Spearman-Brown from the largest ``m``.

    Examples
    --------
    >>> t = pd.DataFrame({"distribution": "human", "participants_per_image": [1, 2], "rho": [0.4, 0.6],
    ...                   "source": "measured"})
    >>> participants_for(t, (0.5, 0.9))[["participants", "source"]].values.tolist()
    [[2.0, 'measured'], [12.0, 'spearman_brown']]
    """
    human = table[(table["distribution"] == "human") & (table["source"] == "measured")]
    human = human.sort_values("participants_per_image")
    m0, r0 = float(human["participants_per_image"].iloc[-1]), float(human["rho"].iloc[-1])
    fit = ceiling_fit(human["participants_per_image"], human["rho"]) if len(human) >= 3 else None
    rows = []
    for target in targets:
        reached = human.loc[human["rho"] >= target, "participants_per_image"]
        if len(reached):
            exact, source = float(reached.min()), "measured"
        elif fit is not None:
            c, a = fit
            t = target / c  # c SB(a, m) = target  <=>  SB(a, m) = t
            exact, source = (t * (1 - a) / (a * (1 - t)), "ceiling_fit") if 0 < a and t < 1 else (np.nan, "none")
        elif 0 < r0 < 1:
            exact, source = m0 * target * (1 - r0) / (r0 * (1 - target)), "spearman_brown"
        else:
            exact, source = np.nan, "none"
        rows.append(
            {
                "target": target,
                "participants": float(np.ceil(exact - 1e-9)) if np.isfinite(exact) else np.nan,
                "exact": exact,
                "source": source,
            }
        )
    return pd.DataFrame(rows)


def curve_figure(table: pd.DataFrame, log_max: int | None = None):
    """Reliability against participants per image: measured (with intervals), null, projections."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 3.8))
    ax = fig.subplots()
    for (distribution, source), part in table.groupby(["distribution", "source"], sort=False):
        style = {"linestyle": "--" if source == "spearman_brown" else ":"} if source != "measured" else {"marker": "o"}
        ax.plot(part["participants_per_image"], part["rho"], label=f"{distribution} ({source})", **style)
        ax.fill_between(part["participants_per_image"], part["ci_low"], part["ci_high"], alpha=0.2)
    if log_max:
        ax.axvline(log_max, color="grey", linewidth=1, linestyle=":", label="both halves together")
    ax.set(xlabel="participants per image (per map)", ylabel="split-half Spearman rho", ylim=(0, 1))
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def plot_curve(table: pd.DataFrame, path, log_max: int | None = None) -> Path:
    """:func:`curve_figure` written to ``path`` (PNG)."""
    path = Path(path)
    curve_figure(table, log_max).savefig(path, dpi=120)
    return path


def write_curve(clicks, out_dir, options, *, n_iterations: int = 10, seed=0, progress: bool = False) -> dict:
    """``reliability_curve.csv`` (measured and projected), ``reliability_curve_iterations.csv``
    and ``reliability_curve.png`` in ``out_dir``; returns the summary's ``curve`` entry."""
    curve = reliability_curve(
        clicks,
        n_iterations=n_iterations,
        seed=seed,
        progress=progress,
        min_clicks=options.min_clicks,
        max_clicks=options.max_clicks,
        **options.paint_kwargs(),
    )
    table = curve_table(curve)
    needed = participants_for(table)
    out_dir = Path(out_dir)
    curve.to_csv(out_dir / "reliability_curve_iterations.csv", index=False)
    table.to_csv(out_dir / "reliability_curve.csv", index=False)
    m_max = int(curve["participants_per_image"].max())
    plot_curve(table, out_dir / "reliability_curve.png", log_max=2 * m_max)
    measured = table[(table["distribution"] == "human") & (table["source"] == "measured")]
    fit = ceiling_fit(measured["participants_per_image"], measured["rho"]) if len(measured) >= 3 else (np.nan, np.nan)
    return {
        "iterations": n_iterations,
        "measured_up_to": m_max,
        "n_images": int(curve["n_images"].iloc[0]),
        "ceiling_fit": {"c": fit[0], "a": fit[1]},
        "participants_for_reliability": {
            f"{row.target:g}": {"participants": row.participants, "source": row.source}
            for row in needed.itertuples(index=False)
        },
        "projection": "measured where reached; else c * Spearman-Brown(a, m) fitted to the measured points "
        "(3+), else plain Spearman-Brown from the largest measured panel; assumes exchangeable, "
        "independent players around one true map per image",
    }
