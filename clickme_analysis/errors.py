"""The one exception type for bad input, shared by every package of the toolkit."""

from __future__ import annotations


class InputError(ValueError):
    """Bad input, located as precisely as the caller knows it.

    Parameters
    ----------
    message : str
        What was expected and what came.
    path : str or os.PathLike, optional
        The file the bad input came from.
    line : int, optional
        1-based line (or record) number in that file.
    field : str, optional
        The column / key / argument that was wrong.

    Examples
    --------
    >>> str(InputError("expected a number, got 'abc'", path="clicks.csv", line=3, field="x"))
    "clicks.csv, line 3, field 'x': expected a number, got 'abc'"
    """

    def __init__(self, message: str, path=None, line: int | None = None, field: str | None = None):
        self.message = message
        self.path = None if path is None else str(path)
        self.line = line
        self.field = field
        super().__init__(self._format())

    def _format(self) -> str:
        where = []
        if self.path is not None:
            where.append(self.path)
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.field is not None:
            where.append(f"field {self.field!r}")
        return (", ".join(where) + ": " if where else "") + self.message
