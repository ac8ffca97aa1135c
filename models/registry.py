"""Architecture names: the toolkit's ResNets (a registry, not substrings) and ``timm:<name>``.

Torch-free, so that configurations are checked when they load; :mod:`models.networks` builds.
"""

from __future__ import annotations

import difflib

from clickme_analysis.errors import InputError

TIMM_PREFIX = "timm:"
#: The toolkit's networks (:func:`models.networks.build_resnet`): (tiny, attention) of each. ``tiny``:
#: three one-block stages with a 32x32 stem; attention "se" in every block, "gala" in conv4.
ARCHITECTURES = {
    "resnet50": (False, "none"),
    "se_resnet50": (False, "se"),
    "gala_resnet50": (False, "gala"),
    "tiny_resnet": (True, "none"),
    "tiny_se_resnet": (True, "se"),
    "tiny_gala_resnet": (True, "gala"),
}


def check_arch(arch: str, path=None) -> str:
    """``arch`` if it names a toolkit network or has the ``timm:`` form; close matches if not.

    timm names are checked when the model is built (:func:`timm_name`: importing timm is slow).

    Examples
    --------
    >>> check_arch("timm:resnet18"), check_arch("gala_resnet50")
    ('timm:resnet18', 'gala_resnet50')
    """
    if arch in ARCHITECTURES or (arch.startswith(TIMM_PREFIX) and len(arch) > len(TIMM_PREFIX)):
        return arch
    close = difflib.get_close_matches(arch, list(ARCHITECTURES), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    raise InputError(
        f"unknown architecture {arch!r}: expected one of {', '.join(ARCHITECTURES)} "
        f"or 'timm:<name>' (any timm model){hint}",
        path=path,
        field="arch",
    )


def arch_check(arch: str) -> None:
    """:func:`check_arch` for the configuration loader (a ValueError with the message)."""
    try:
        check_arch(arch)
    except InputError as err:
        raise ValueError(err.message) from None


def timm_name(name: str) -> str:
    """A timm model name, checked; unknown names get close matches."""
    import timm

    if timm.is_model(name):
        return name
    close = difflib.get_close_matches(name, timm.list_models(), n=5, cutoff=0.6)
    hint = f"; close matches: {', '.join(close)}" if close else ""
    raise InputError(f"unknown timm model {name!r}{hint}", field="arch")
