"""Compiled Spearman correlation of small-range integer maps (exact box-blurred click counts).

Average ranks of integers come from their counts: a value's rank is the number of smaller
values plus (its count + 1) / 2. Each map is summarised once by a table value -> centred average
rank, and a pair's correlation is one pass over the pixels looking both ranks up; no rank array
is ever written. Centred ranks are multiples of 1/2, so every product is a multiple of 1/4 and
the float64 sums are exact for maps of up to about 10**6 pixels.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, parallel=True)
def rank_tables(rows, low, width):  # pragma: no cover - compiled
    """Per row: table of centred average ranks indexed by ``value - low[row]``, and its norm."""
    n, p = rows.shape
    tables = np.zeros((n, width))
    norms = np.empty(n)
    centre = (p + 1) / 2
    for i in numba.prange(n):
        counts = np.zeros(width, np.int64)
        for k in range(p):
            counts[rows[i, k] - low[i]] += 1
        below = 0
        squares = 0.0
        for v in range(width):
            c = counts[v]
            rank = below + (c + 1) / 2 - centre
            tables[i, v] = rank
            squares += c * rank * rank
            below += c
        norms[i] = np.sqrt(squares)
    return tables, norms


@numba.njit(cache=True, nogil=True, parallel=True, fastmath=True)
def paired_products(rows_a, low_a, tables_a, rows_b, low_b, tables_b, partner):  # pragma: no cover
    """Sum over pixels of centred rank products of ``rows_a[i]`` and ``rows_b[partner[i]]``."""
    n, p = rows_a.shape
    out = np.empty(n)
    for i in numba.prange(n):
        j = partner[i]
        row_a, row_b = rows_a[i], rows_b[j]
        table_a, table_b = tables_a[i], tables_b[j]
        base_a, base_b = low_a[i], low_b[j]
        total = 0.0
        for k in range(p):
            total += table_a[row_a[k] - base_a] * table_b[row_b[k] - base_b]
        out[i] = total
    return out
