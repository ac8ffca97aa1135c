"""Compiled parser of ``clicks`` cells (``{(12,30),(14,33)}``, ``[[1, 2], [3, 4]]``, ...).

One pass over the bytes of a batch of cells (pyarrow's string buffer) finds the numbers of each
point. Numbers are decimal (``-12``, ``3.25``); a number with an exponent, or a point of other
than two or three numbers, marks its cell for the row-by-row parser, which explains the error.
A decimal is its digits as an integer divided by a power of ten, one correctly rounded division,
which is what ``float(text)`` gives for up to 15 significant digits.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _parse_cell(data, start, stop, x, y, t, written):  # pragma: no cover - compiled
    """Parse the points of one cell, ``data[start:stop]``, into x, y, t from index ``written`` on.

    Returns the index after the cell's last point, or -1 for a cell the row-by-row parser must
    take (what it wrote is then overwritten by the next cell).
    """
    depth = 0
    values = np.empty(3)
    n_values = 0
    number = 0
    scale = 1.0
    digits = 0
    negative = False
    in_number = False
    fraction = False
    opened = False
    for i in range(start, stop + 1):
        byte = data[i] if i < stop else 32  # a space closes a number at the end of the cell
        if 48 <= byte <= 57:
            if not in_number:
                in_number, number, scale, digits, fraction = True, 0, 1.0, 0, False
            number = number * 10 + (byte - 48)
            digits += 1
            if fraction:
                scale *= 10.0
            if digits > 15:
                return -1
            continue
        if byte == 46 and in_number and not fraction:  # '.'
            fraction = True
            continue
        if byte == 45 and not in_number:  # '-'
            negative = True
            continue
        if in_number:
            if n_values == 3:
                return -1
            value = number / scale
            values[n_values] = -value if negative else value
            n_values += 1
            in_number = False
            negative = False
        elif negative or byte == 46:
            return -1
        if byte == 40 or byte == 91 or byte == 123:  # ( [ {
            depth += 1
            opened = True
            if depth == 2:
                n_values = 0
            elif depth > 2:
                return -1
        elif byte == 41 or byte == 93 or byte == 125:  # ) ] }
            if depth == 2:
                if n_values < 2:
                    return -1
                x[written] = values[0]
                y[written] = values[1]
                t[written] = values[2] if n_values == 3 else np.nan
                written += 1
                n_values = 0
            depth -= 1
        elif byte == 44 or byte == 32 or byte == 9:  # , space tab
            if depth == 1 and n_values != 0:
                return -1
        else:
            return -1
    if depth != 0 or not opened:
        return -1
    return written


@numba.njit(cache=True, nogil=True)
def parse_point_cells(data, offsets, x, y, t, counts, status):  # pragma: no cover - compiled
    """Fill x, y, t (NaN when points have two numbers) and per-cell point counts.

    ``status[c]`` is 0 for a parsed cell, 1 for one the row-by-row parser must take. Returns
    the number of points written.
    """
    written = 0
    for c in range(offsets.size - 1):
        end = _parse_cell(data, offsets[c], offsets[c + 1], x, y, t, written)
        if end < 0:
            status[c] = 1
            counts[c] = 0
        else:
            status[c] = 0
            counts[c] = end - written
            written = end
    return written


def parse_cells(data: np.ndarray, offsets: np.ndarray):
    """Parse a batch of cells: ``(x, y, t, counts, status)`` (see :func:`parse_point_cells`)."""
    n_cells = offsets.size - 1
    capacity = max(1, int(offsets[-1] - offsets[0]) // 4 + 1)  # a point takes at least 5 bytes: "(1,2)"
    x, y, t = np.empty(capacity), np.empty(capacity), np.empty(capacity)
    counts = np.zeros(n_cells, dtype=np.int64)
    status = np.zeros(n_cells, dtype=np.int8)
    written = parse_point_cells(data, offsets, x, y, t, counts, status)
    return x[:written], y[:written], t[:written], counts, status
