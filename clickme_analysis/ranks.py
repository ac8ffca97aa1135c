"""Rank correlations of maps: average ranks, Spearman of matching rows, paired human/null rows.

The one rank and Spearman module of the toolkit (reliability, metrics and model scores use it).
Spearman is computed as the Pearson correlation of average ranks (ties as
``scipy.stats.rankdata(method="average")``). Box-blurred maps are kept as exact integer window
sums, whose ranks come from counting: a compiled kernel (``_rank_numba``) correlates a pair in one
pass over the pixels without writing ranks. Other maps are ranked once each (the minimum's tie
run, the zero background, without sorting; the rest with one sort of packed (value, pixel index)
keys) and correlated in batches.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from clickme_analysis.errors import InputError

__all__ = ["rank_rows", "pearson_rows", "spearman_rows", "paired_rank_correlations"]


def _sortable_bits(values: np.ndarray) -> np.ndarray:
    """Map float32 values to uint32 keys with the same order (IEEE-754 sign trick)."""
    bits = (values + np.float32(0)).view(np.uint32)  # + 0 turns -0.0 into 0.0
    if values.min() >= 0:  # non-negative floats already order as their bit patterns
        return bits
    flip = (np.uint32(0) - (bits >> np.uint32(31))) | np.uint32(0x80000000)
    return bits ^ flip


def _rank_row(row: np.ndarray, out: np.ndarray, shift: float = 0.0) -> None:
    """Write the average ranks (1-based) of one row, minus ``shift``, into ``out``.

    Integers of a small range (exact box-blurred click counts) are ranked by counting. Otherwise
    the minimum's tie run (a blurred map's zero background, often half the pixels) gets its rank
    without sorting and the rest is sorted once: float32 as packed (value, index) uint64 keys (one
    fast sort gives both order and values), other dtypes by a stable argsort.
    """
    p = row.size
    if np.issubdtype(row.dtype, np.integer):
        low_value = int(row.min())
        if int(row.max()) - low_value < 8 * p:  # small range: counting sort, no comparison sort
            counts = np.bincount(row - low_value)
            table = np.cumsum(counts) - counts + (counts + 1) / 2 - shift
            np.take(table.astype(out.dtype), row - low_value, out=out, mode="clip")  # in range: "raise" buffers
            return
    low = row == row.min()
    n_low = int(np.count_nonzero(low))
    index = np.flatnonzero(~low)
    out.fill((n_low + 1) / 2 - shift)
    if index.size == 0:
        return
    rest = row[index]
    if row.dtype == np.float32 and p < 2**32:
        keys = _sortable_bits(rest).astype(np.uint64) << np.uint64(32)
        keys |= index.astype(np.uint64)
        keys.sort()
        halves = keys.view(np.uint32)  # little-endian: [index, value] per key
        values, order = halves[1::2], halves[0::2]
    else:
        by_value = np.argsort(rest, kind="stable")
        values, order = rest[by_value], index[by_value]
    new_run = np.empty(values.size, dtype=bool)
    new_run[0] = True
    np.not_equal(values[1:], values[:-1], out=new_run[1:])
    starts = np.flatnonzero(new_run)
    lengths = np.diff(starts, append=values.size)
    run_rank = n_low + starts + (lengths + 1) / 2 - shift
    out[order] = run_rank[np.cumsum(new_run) - 1]


#: rows per task when ranking on several threads
_CHUNK_ROWS = 4


def _check_rows(rows, name: str) -> np.ndarray:
    rows = np.asarray(rows)
    if rows.ndim < 2:
        raise InputError(f"expected a 2-D (N, P) or (N, H, W) array, got shape {rows.shape}", field=name)
    rows = rows.reshape(len(rows), -1)
    if not (np.issubdtype(rows.dtype, np.number) or rows.dtype == bool):
        raise InputError(f"expected numbers, got dtype {rows.dtype}", field=name)
    if np.issubdtype(rows.dtype, np.floating) and np.isnan(rows).any():
        raise InputError("expected no NaN values", field=name)
    return rows


def _ranks(rows: np.ndarray, centred: bool = False, n_jobs: int = 1) -> np.ndarray:
    """Average ranks of every row into one float64 array; ``centred`` subtracts their mean.

    The mean of average ranks is exactly (P + 1) / 2 whatever the ties, so centring is free.
    """
    n, p = rows.shape
    # half-integer ranks below 2**23 are exact in float32: half the memory traffic of float64
    out = np.empty((n, p), dtype=np.float32 if centred and p < 2**23 else np.float64)
    shift = (p + 1) / 2 if centred else 0.0

    def rank_chunk(start: int) -> None:
        for i in range(start, min(start + _CHUNK_ROWS, n)):
            _rank_row(rows[i], out[i], shift)

    starts = range(0, n, _CHUNK_ROWS)
    n_jobs = (os.cpu_count() or 1) if n_jobs == -1 else max(1, n_jobs)
    if n_jobs == 1 or n <= _CHUNK_ROWS:
        for start in starts:
            rank_chunk(start)
    else:
        with ThreadPoolExecutor(n_jobs) as pool:  # numpy's sorts and ufuncs release the GIL
            list(pool.map(rank_chunk, starts))
    return out


def rank_rows(rows, n_jobs: int = 1) -> np.ndarray:
    """Average ranks (ties share their mean rank) of each row, as ``scipy.stats.rankdata``.

    Parameters
    ----------
    rows : array_like, shape (N, P) or (N, H, W)
        Real values; NaN is refused. Small-range integers are ranked by counting, float32 by a
        fast packed-key sort, other dtypes by a stable argsort.
    n_jobs : int
        Threads over row chunks (-1: all cores).

    Returns
    -------
    ndarray of float64, shape (N, P)

    Examples
    --------
    >>> rank_rows([[10, 20, 20, 5]])
    array([[2. , 3.5, 3.5, 1. ]])
    """
    return _ranks(_check_rows(rows, "rows"), n_jobs=n_jobs)


def pearson_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of matching rows (float64); NaN where a row is constant."""
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    return _correlate_centred(a, b)


def _norms(centred: np.ndarray) -> np.ndarray:
    return np.sqrt(np.einsum("ij,ij->i", centred, centred, dtype=np.float64))


def _correlate_centred(
    a: np.ndarray,
    b: np.ndarray,
    partner: np.ndarray | None = None,
    norm_a: np.ndarray | None = None,
    norm_b: np.ndarray | None = None,
) -> np.ndarray:
    """Correlation of centred rows ``a[i]`` and ``b[partner[i]]`` (``partner`` default: i).

    Row products use einsum accumulating in float64 (ranks may be stored as float32), not BLAS:
    many small BLAS calls stall when the machine's cores are busy (its worker threads spin).
    """
    norm_a = _norms(a) if norm_a is None else norm_a
    norm_b = _norms(b) if norm_b is None else norm_b
    if partner is None:
        num = np.einsum("ij,ij->i", a, b, dtype=np.float64)
        partner = slice(None)
    else:  # row by row: no gathered copy of b
        num = np.array([np.einsum("j,j->", a[i], b[j], dtype=np.float64) for i, j in enumerate(partner)])
    den = norm_a * norm_b[partner]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def _counting_spearman(a: np.ndarray, b: np.ndarray, partners) -> list[np.ndarray] | None:
    """Spearman of ``a[i]`` with ``b[partner[i]]`` for each partner array, for small-range
    integer maps (exact box-blurred counts), by a compiled counting kernel; None otherwise."""
    if not (np.issubdtype(a.dtype, np.integer) and np.issubdtype(b.dtype, np.integer)) or a.size == 0:
        return None
    low_a, low_b = a.min(axis=1).astype(np.int64), b.min(axis=1).astype(np.int64)
    width = int(max((a.max(axis=1) - low_a).max(), (b.max(axis=1) - low_b).max())) + 1
    if width > 8 * a.shape[1]:
        return None
    from clickme_analysis._rank_numba import paired_products, rank_tables

    dtype = np.int32 if max(abs(int(low_a.min())), abs(int(low_b.min()))) + width < 2**31 else np.int64
    a, b = np.ascontiguousarray(a, dtype=dtype), np.ascontiguousarray(b, dtype=dtype)
    tables_a, norms_a = rank_tables(a, low_a, width)
    tables_b, norms_b = rank_tables(b, low_b, width)
    out = []
    for partner in partners:
        num = paired_products(a, low_a, tables_a, b, low_b, tables_b, partner)
        den = norms_a * norms_b[partner]
        with np.errstate(invalid="ignore", divide="ignore"):
            out.append(np.where(den > 0, num / den, np.nan))
    return out


def spearman_rows(a, b, n_jobs: int = 1) -> np.ndarray:
    """Spearman rank correlation of matching rows of two arrays (maps flattened per row).

    Parameters
    ----------
    a, b : array_like, shape (N, P) or (N, H, W)
        Paired maps; row i of ``a`` is compared with row i of ``b``.
    n_jobs : int
        Threads (-1: all cores).

    Returns
    -------
    ndarray of float64, shape (N,)
        Equal to ``scipy.stats.spearmanr(a[i], b[i])`` for each i (NaN for a constant row).

    Examples
    --------
    >>> spearman_rows([[1, 2, 3, 4]], [[1, 3, 2, 4]])
    array([0.8])
    """
    a, b = _check_rows(a, "a"), _check_rows(b, "b")
    if a.shape != b.shape:
        raise InputError(f"expected two arrays of one shape, got {a.shape} and {b.shape}", field="a, b")
    batch = 64  # rows ranked at a time: bounded memory (about 1 MB per row of 65,536 pixels)
    out = []
    for s in range(0, len(a), batch):
        part_a, part_b = a[s : s + batch], b[s : s + batch]
        fast = _counting_spearman(part_a, part_b, [np.arange(len(part_a))])
        out.append(
            fast[0]
            if fast is not None
            else _correlate_centred(_ranks(part_a, True, n_jobs), _ranks(part_b, True, n_jobs))
        )
    return np.concatenate(out)


def paired_rank_correlations(maps_a, maps_b, seed=0, n_jobs: int = 1):
    """Human and null Spearman correlations of paired maps, each map ranked once.

    Row i of ``maps_a`` and ``maps_b`` are two participants' maps of image i (the human
    pair). The null pairs ``maps_a[i]`` with ``maps_b[partner[i]]``, ``partner`` a random
    derangement (never the same image), reusing the ranks already computed.

    Parameters
    ----------
    maps_a, maps_b : array_like, shape (N, P) or (N, H, W), N >= 2
        Blurred maps (small-range integers and float32 take the fast paths).
    seed : int or numpy.random.Generator
        Seed for the derangement.
    n_jobs : int
        Threads for ranking.

    Returns
    -------
    human, null : ndarray of float64, shape (N,)
    partner : ndarray of int, shape (N,)
        The image paired with image i in the null.
    """
    a, b = _check_rows(maps_a, "maps_a"), _check_rows(maps_b, "maps_b")
    if a.shape != b.shape or len(a) < 2:
        raise InputError(
            f"expected two stacks of one shape with 2+ maps, got {a.shape} and {b.shape}", field="maps_a, maps_b"
        )
    rng = np.random.default_rng(seed)
    n = len(a)
    partner = (np.arange(n) + rng.integers(1, n, size=n)) % n
    fast = _counting_spearman(a, b, [np.arange(n), partner])
    if fast is not None:
        return fast[0], fast[1], partner
    ranked_a, ranked_b = _ranks(a, True, n_jobs), _ranks(b, True, n_jobs)
    norm_a, norm_b = _norms(ranked_a), _norms(ranked_b)
    return (
        _correlate_centred(ranked_a, ranked_b, None, norm_a, norm_b),
        _correlate_centred(ranked_a, ranked_b, partner, norm_a, norm_b),
        partner,
    )
