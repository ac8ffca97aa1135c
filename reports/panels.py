"""Image panels: maps drawn over their images, model attention, and stimulus contact sheets.

Paper Figs. 2 and 4 style: :func:`example_maps` (ClickMe and other maps over example images),
:func:`attention_panels` (model attention and the SmoothGrad difference of two models) and
:func:`contact_sheet` (one image across reveal levels). Each takes mappings of arrays and returns a
:class:`matplotlib.figure.Figure` on an Agg canvas (no file I/O); curves and histograms are in
:mod:`reports.figures`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from clickme_analysis.errors import InputError
from reports.style import DIVERGING_CMAP, DOUBLE_COLUMN, MAP_CMAP, display_name, new_figure, styled

#: Largest opacity of a map drawn over its image.
OVERLAY_ALPHA = 0.85


def _image_01(image, name: str) -> np.ndarray:
    """An image as float in [0, 1], (H, W) or (H, W, 3); uint8 is divided by 255."""
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 4:
        array = array[..., :3]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] != 3):
        raise InputError(f"{name}: expected an (H, W) or (H, W, 3) image, got shape {array.shape}")
    if array.dtype == np.uint8:
        return array / 255.0
    array = array.astype(float)
    if not np.all(np.isfinite(array)):
        raise InputError(f"{name}: expected finite image values, got NaN or inf")
    if array.min() < 0 or array.max() > 1:
        raise InputError(
            f"{name}: expected uint8 or float values in [0, 1], got range [{array.min():g}, {array.max():g}]"
        )
    return array


def _map_01(saliency_map, name: str) -> np.ndarray:
    """A 2-D map on [0, 1] for display: ``(m - low) / (max - low)`` with ``low = min(0, m.min())``.

    A non-negative map (ClickMe maps, attention norms) is divided by its maximum, so a flat map
    stays visibly flat; a map with negative values is min-max rescaled; an all-zero map stays 0.
    """
    array = np.asarray(saliency_map, dtype=float)
    if array.ndim != 2:
        raise InputError(f"{name}: expected a 2-D (H, W) map, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise InputError(f"{name}: expected finite map values, got NaN or inf")
    low, high = min(0.0, array.min()), array.max()
    return (array - low) / (high - low) if high > low else np.zeros_like(array)


def _gray(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 2 else image @ np.array([0.299, 0.587, 0.114])


def _bare(ax, row_label: str | None = None, title: str | None = None) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    if row_label is not None:
        ax.set_ylabel(row_label)
    if title is not None:
        ax.set_title(title)


def _draw_overlay(ax, image: np.ndarray, saliency_map: np.ndarray | None) -> None:
    """Grey image with the map on top in colour, opacity proportional to the map value.

    The map is stretched over the image's extent, so a 14x14 attention map and a 256x256 map
    both cover the whole image.
    """
    import matplotlib

    height, width = image.shape[:2]
    extent = (0, width, height, 0)
    ax.imshow(_gray(image), cmap="gray", vmin=0, vmax=1, extent=extent)
    if saliency_map is not None:
        rgba = matplotlib.colormaps[MAP_CMAP](saliency_map)
        rgba[..., 3] = OVERLAY_ALPHA * saliency_map
        ax.imshow(rgba, extent=extent, interpolation="bilinear")
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)


def _map_colorbar(fig, axes, label: str, cmap: str = MAP_CMAP, vmin=0.0, vmax=1.0):
    import matplotlib
    from matplotlib.cm import ScalarMappable

    mappable = ScalarMappable(matplotlib.colors.Normalize(vmin, vmax), cmap=cmap)
    bar = fig.colorbar(mappable, ax=axes, label=label, shrink=0.9, aspect=25, pad=0.01)
    bar.outline.set_visible(False)
    return bar


def _overlay_grid(
    images: Mapping, maps: Mapping, image_ids, titles, first_row: str, extra_rows: int = 0, panel: float = 1.15
):
    """Rows: the image, then one overlay row per map source; columns: images."""
    n_rows, n_cols = 1 + len(maps) + extra_rows, len(image_ids)
    width = min(DOUBLE_COLUMN, 0.9 + panel * n_cols)
    fig, axes = new_figure(width, (width - 0.9) / n_cols * n_rows + 0.3, n_rows, n_cols)
    for col, image_id in enumerate(image_ids):
        image = _image_01(images[image_id], f"image {image_id!r}")
        title = titles.get(image_id, str(image_id)) if titles else str(image_id)
        axes[0, col].imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1)
        _bare(axes[0, col], first_row if col == 0 else None, title)
        for row, (source, source_maps) in enumerate(maps.items(), start=1):
            has_map = image_id in source_maps
            saliency_map = _map_01(source_maps[image_id], f"{source} map {image_id!r}") if has_map else None
            _draw_overlay(axes[row, col], image, saliency_map)
            if not has_map:
                axes[row, col].text(
                    0.5, 0.5, "no map", transform=axes[row, col].transAxes, ha="center", va="center", color="white"
                )
            _bare(axes[row, col], display_name(source) if col == 0 else None)
    return fig, axes


def _check_image_maps(images, maps, name: str, max_images: int):
    if not isinstance(max_images, (int, np.integer)) or max_images < 1:
        raise InputError(f"{name}: expected max_images >= 1, got {max_images!r}", field="max_images")
    if not isinstance(images, Mapping) or not images:
        raise InputError(f"{name}: expected a non-empty mapping image_id -> image array")
    if not isinstance(maps, Mapping) or not maps:
        raise InputError(f"{name}: expected a non-empty mapping source -> {{image_id: map}}")
    for source, source_maps in maps.items():
        if not isinstance(source_maps, Mapping):
            raise InputError(
                f"{name}: maps[{source!r}] should map image_id -> 2-D array, got {type(source_maps).__name__}"
            )


@styled
def example_maps(images: Mapping, maps: Mapping, titles: Mapping | None = None, max_images: int = 6):
    """Example maps over their images, opacity from the map (paper Fig. 2A and Fig. 6).

    Parameters
    ----------
    images : Mapping[str, ndarray]
        image_id -> (H, W) or (H, W, 3) image, uint8 or float in [0, 1]. The first
        ``max_images`` ids, in this mapping's order, are shown as columns.
    maps : Mapping[str, Mapping[str, ndarray]]
        Map source (``clickme``, ``saliency``, ...) -> image_id -> 2-D map of any size (it is
        stretched over the image). Each map is divided by its own maximum (min-max rescaled if
        it has negative values) and drawn in colour with opacity ``0.85 * value`` over the grey
        image; one row per source.
    titles : Mapping[str, str], optional
        Column titles per image_id (e.g. the class label); default the image_id.
    max_images : int
        At most this many images (columns).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> image = np.zeros((8, 8, 3), np.uint8)
    >>> fig = example_maps({"a": image}, {"clickme": {"a": np.eye(8)}})
    >>> len(fig.axes)  # image row, clickme row, colour bar
    3
    """
    _check_image_maps(images, maps, "example_maps", max_images)
    image_ids = list(images)[:max_images]
    fig, axes = _overlay_grid(images, maps, image_ids, titles, "Image")
    _map_colorbar(fig, axes[1:, :], "Map value (normalised)")
    return fig


@styled
def attention_panels(
    images: Mapping,
    attention: Mapping,
    smoothgrad: Mapping | None = None,
    *,
    titles: Mapping | None = None,
    max_images: int = 6,
):
    """Attention maps of models and the SmoothGrad difference between two models (Fig. 4).

    Parameters
    ----------
    images : Mapping[str, ndarray]
        image_id -> image (as in :func:`example_maps`); the first ``max_images`` are columns.
    attention : Mapping[str, Mapping[str, ndarray]]
        Model name -> image_id -> 2-D attention map (any size; stretched over the image and
        divided by its maximum, as in :func:`example_maps`). One row per model.
    smoothgrad : Mapping[str, Mapping[str, ndarray]], optional
        Exactly two models -> image_id -> 2-D SmoothGrad map (same size as the image). Each map
        is divided by its largest absolute value, and the last row shows
        ``second - first`` with a diverging colour map (red: the second model's gradients are
        larger).
    titles : Mapping[str, str], optional
        Column titles per image_id.
    max_images : int
        At most this many images.

    Returns
    -------
    matplotlib.figure.Figure
    """
    _check_image_maps(images, attention, "attention_panels", max_images)
    if smoothgrad is not None and len(smoothgrad) != 2:
        raise InputError(
            f"attention_panels: expected SmoothGrad maps of exactly two models, "
            f"got {len(smoothgrad)}: {list(smoothgrad)}",
            field="smoothgrad",
        )
    image_ids = list(images)[:max_images]
    extra = 0 if smoothgrad is None else 1
    fig, axes = _overlay_grid(images, attention, image_ids, titles, "Image", extra_rows=extra)
    _map_colorbar(fig, axes[1 : 1 + len(attention), :], "Attention (normalised)")
    if smoothgrad is None:
        return fig
    (first, first_maps), (second, second_maps) = smoothgrad.items()
    for col, image_id in enumerate(image_ids):
        ax = axes[-1, col]
        if image_id in first_maps and image_id in second_maps:
            delta = _unit_abs(second_maps[image_id], f"{second} SmoothGrad {image_id!r}") - _unit_abs(
                first_maps[image_id], f"{first} SmoothGrad {image_id!r}"
            )
            ax.imshow(delta, cmap=DIVERGING_CMAP, vmin=-1, vmax=1, interpolation="bilinear")
        label = f"SmoothGrad\n{display_name(second)} \u2212 {display_name(first)}"
        _bare(ax, label if col == 0 else None)
    _map_colorbar(fig, axes[-1:, :], "\u0394 gradient (normalised)", DIVERGING_CMAP, -1, 1)
    return fig


def _unit_abs(saliency_map, name: str) -> np.ndarray:
    array = np.asarray(saliency_map, dtype=float)
    if array.ndim != 2 or not np.all(np.isfinite(array)):
        raise InputError(f"{name}: expected a finite 2-D map, got shape {array.shape}")
    peak = np.abs(array).max()
    return array / peak if peak > 0 else array


@styled
def contact_sheet(stimuli: Mapping, title: str | None = None):
    """One image across levels, one row per map source (stimulus contact sheet).

    Parameters
    ----------
    stimuli : Mapping[str, Mapping[float, ndarray]]
        Map source -> level (% revealed) -> stimulus image. Columns are the union of levels,
        sorted; a source without a level leaves that cell empty.
    title : str, optional
        Figure title (e.g. the image_id).

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not isinstance(stimuli, Mapping) or not stimuli:
        raise InputError("contact_sheet: expected a non-empty mapping source -> {level: image}")
    levels = sorted({float(level) for frames in stimuli.values() for level in frames})
    n_cols = len(levels)
    panel = min(0.75, (DOUBLE_COLUMN - 0.6) / n_cols)
    fig, axes = new_figure(0.6 + panel * n_cols, 0.35 + panel * len(stimuli) * 1.05, len(stimuli), n_cols)
    for row, (source, frames) in enumerate(stimuli.items()):
        by_level = {float(level): image for level, image in frames.items()}
        for col, level in enumerate(levels):
            ax = axes[row, col]
            if level in by_level:
                image = _image_01(by_level[level], f"{source} stimulus at level {level:g}")
                ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1)
            _bare(ax, display_name(source) if col == 0 else None, f"{level:.3g}%" if row == 0 else None)
    if title:
        fig.suptitle(title, fontsize=8)
    return fig
