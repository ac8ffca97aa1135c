"""Progress bars that appear on terminals only, never flooding a log file."""

from __future__ import annotations

import sys

from tqdm.auto import tqdm


def progress(iterable=None, *, enabled: bool = True, **tqdm_kwargs):
    """Wrap ``iterable`` in a tqdm bar when ``enabled`` and standard error is a terminal.

    Otherwise the iterable is returned as it is (or, with no iterable, a do-nothing bar whose
    ``update``/``set_postfix``/``close`` may still be called).

    Examples
    --------
    >>> list(progress(range(3), enabled=False))
    [0, 1, 2]
    """
    show = enabled and sys.stderr is not None and sys.stderr.isatty()
    if show:
        return tqdm(iterable, **tqdm_kwargs)
    if iterable is not None:
        return iterable
    return _Silent()


class _Silent:
    """The parts of a tqdm bar callers use, doing nothing."""

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, *args, **kwargs) -> None:
        pass

    def set_description(self, *args, **kwargs) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass
