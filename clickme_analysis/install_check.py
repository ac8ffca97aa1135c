"""Whether the generic top-level packages ``stimuli``, ``experiments``, ``models`` and ``reports`` are ours.

The toolkit installs those four names at the top level of ``site-packages``. Another
distribution with a package of the same name either shadows ours (it comes earlier on
``sys.path``) or overwrote our files when it was installed into the same folder; either way an
import fails deep inside, or silently runs someone else's code. :func:`foreign_packages` finds
both cases without importing the packages (a few ``find_spec`` calls and four small reads, ~1 ms)
and names the other distribution; importing :mod:`clickme_analysis` warns with that message.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

#: The toolkit's top-level packages whose names other projects use too.
GENERIC_PACKAGES = ("stimuli", "experiments", "models", "reports")
#: A line every one of those packages' ``__init__.py`` carries (a test checks it).
MARKER = '__distribution__ = "clickme-toolkit"'


class PackageConflictWarning(UserWarning):
    """Another installed distribution provides one of the toolkit's top-level packages."""


def _origin(name: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin in (None, "namespace"):
        return None
    return Path(spec.origin)


def _providers(name: str) -> list[str]:
    """Distributions other than this toolkit that install the top-level ``name`` (slow: only on a conflict)."""
    from importlib.metadata import packages_distributions

    return sorted(set(packages_distributions().get(name, [])) - {"clickme-toolkit"})


def foreign_packages(names=GENERIC_PACKAGES, home: Path | None = None) -> list[str]:
    """One message per package in ``names`` that is not this toolkit's.

    Parameters
    ----------
    names : sequence of str
        Top-level package names to check.
    home : pathlib.Path, optional
        The folder the toolkit is installed in (default: the one holding ``clickme_analysis``).

    Returns
    -------
    list of str
        Empty when every package found is the toolkit's; otherwise where the other one was found
        and which distribution provides it. A package that is absent is not reported.

    Examples
    --------
    >>> foreign_packages()
    []
    """
    home = (Path(__file__).resolve().parents[1] if home is None else Path(home)).resolve()
    problems = []
    for name in names:
        origin = _origin(name)
        if origin is None:
            continue
        ours_by_place = origin.resolve().parent == home / name
        if ours_by_place and origin.name == "__init__.py" and MARKER in origin.read_text(encoding="utf-8"):
            continue
        others = _providers(name)
        by = (
            f"the distribution {' and '.join(repr(o) for o in others)} provides it"
            if others
            else "no installed distribution claims it (a folder on sys.path or PYTHONPATH)"
        )
        how = (
            "overwrote this toolkit's files when it was installed into the same folder"
            if ours_by_place
            else "shadows this toolkit's package"
        )
        problems.append(
            f"the top-level package {name!r} found at {origin.parent} is not the ClickMe toolkit's: "
            f"{by}, and it {how}; install clickme-toolkit into its own virtual environment"
        )
    return problems


def warn_on_foreign_packages() -> None:
    """Warn (:class:`PackageConflictWarning`) once per foreign top-level package; see :func:`foreign_packages`."""
    for problem in foreign_packages():
        warnings.warn(f"clickme-toolkit: {problem}", PackageConflictWarning, stacklevel=3)
