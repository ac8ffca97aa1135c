"""Compiled kernels of the GLMM's inner (PIRLS) problem, over the rows of ``M = [X, Z Lambda]``.

Each row of ``M`` has the same few non-zero columns as the row of ``A = [X, Z]`` (``cols``, r per
row) with the values ``m`` (``A``'s values times the row's ``Lambda`` block), so the linear
predictor, the gradient and the Hessian ``M' diag(w) M`` are one pass over n x r (x r) values,
without forming a sparse matrix. Both are stored transposed, (r, n), so that a pass over the rows
reads contiguous memory. See :mod:`clickme_analysis.glmm`.
"""

from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def linear_predictor(m, cols, v):  # pragma: no cover - compiled
    """``eta = M v``, shape (n,)."""
    r, n = m.shape
    eta = np.zeros(n)
    for j in range(r):
        for i in range(n):
            eta[i] += m[j, i] * v[cols[j, i]]
    return eta


@numba.njit(cache=True, nogil=True)
def transpose_times(m, cols, residual, dim):  # pragma: no cover - compiled
    """``M' residual``, shape (dim,)."""
    r, n = m.shape
    out = np.zeros(dim)
    for j in range(r):
        for i in range(n):
            out[cols[j, i]] += m[j, i] * residual[i]
    return out


@numba.njit(cache=True, nogil=True)
def weighted_gram(m, cols, w, dim):  # pragma: no cover - compiled
    """``M' diag(w) M``, dense and symmetric (dim x dim); ``cols`` ascending down each column, so
    that a row's pairs ``a <= b`` fall in the upper triangle, which is then mirrored."""
    r, n = m.shape
    out = np.zeros(dim * dim)
    for i in range(n):
        for a in range(r):
            wa = w[i] * m[a, i]
            row = cols[a, i] * dim
            for b in range(a, r):
                out[row + cols[b, i]] += wa * m[b, i]
    H = out.reshape((dim, dim))
    for a in range(dim):  # the pairs went to the upper triangle: mirror it
        for b in range(a + 1, dim):
            H[b, a] = H[a, b]
    return H


@numba.njit(cache=True, nogil=True)
def deviance(y, eta):  # pragma: no cover - compiled
    """``-2 sum log p(y | eta)`` for Bernoulli ``y``: ``log(1 + e^eta) - y eta`` a row, with
    ``log(1 + e^eta) = max(eta, 0) + log1p(e^-|eta|)``, exact in both tails."""
    total = 0.0
    for i in range(eta.size):
        e = eta[i]
        total += max(e, 0.0) + math.log1p(math.exp(-abs(e))) - y[i] * e
    return 2 * total
