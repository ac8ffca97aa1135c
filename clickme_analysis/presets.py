"""Presets: named bundles of map and reliability option values.

A preset sets options that neither the configuration file nor the command line sets; explicit
values always win (``--preset clickme2 --min-subjects 3`` keeps images with 3 participants).
The table of each preset's values, the toolkit's defaults and why they differ is in
docs/metrics.md.

``clickme2``: the ClickMe 2.0 authors' maps and split-half ceiling (serre-lab/
human_clickme_data_processing, its default configs), for numbers comparable with that release.
The defaults stay the ICLR 2019 paper's maps.
"""

from __future__ import annotations

from clickme_analysis.errors import InputError

__all__ = ["PRESETS", "preset_values"]

PRESETS: dict[str, dict] = {
    "clickme2": {
        "bubble_size": 1,  # one pixel per click: the count map
        "bubble": "square",
        "blur": "disc",
        "blur_size": 21,
        "disc_radius": "(size-1)/2",  # radius 10: 317 pixels
        "blur_passes": 2,
        "blur_border": "constant",  # zero padding, "same" convolution
        "blur_reference_size": 256,  # side round(21 * short side / 256), made odd ...
        "blur_max_size": 51,  # ... at most 51
        "min_clicks": 10,  # a map needs more than 10 clicks
        "max_clicks": 75,  # and keeps its first 75
        "count_outside": False,  # and at least 10 of them inside the image
        "min_subjects": 5,
        "repeat_submissions": "first",
        "exclude_mobile": True,
        "mobile_rule": "first",
        "split_half_replacement": True,
        "split_half_resize": 256,
        "split_half_crop": 224,
        "split_half_correction": False,
    }
}


def preset_values(name: str | None) -> dict:
    """The option values of preset ``name`` (``{}`` for None), with ``preset`` itself.

    Examples
    --------
    >>> preset_values("clickme2")["min_subjects"], preset_values(None)
    (5, {})
    """
    if name is None:
        return {}
    if name not in PRESETS:
        raise InputError(f"expected a preset in {sorted(PRESETS)}, got {name!r}", field="preset")
    return {"preset": name, **PRESETS[name]}
