"""Each figure function on small tidy inputs: what it draws, and how it rejects bad input."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from clickme_analysis.errors import InputError
from reports import figures, panels
from reports.panels import OVERLAY_ALPHA


def _texts(ax):
    return [t.get_text() for t in ax.texts]


def _overlay_alpha(ax):
    """Alpha channel of the overlay (second image) drawn in ``ax``."""
    return ax.images[1].get_array()[..., 3]


# ----------------------------------------------------------------------------- example maps
def test_example_maps_grid_and_opacity_from_map(images, maps):
    fig = panels.example_maps(images, maps, titles={"cat_0": "cat"})
    assert isinstance(fig, Figure)
    grid = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(grid) == 3 * 3  # rows: image, clickme, saliency; columns: three images
    image_row, clickme_row = grid[0:3], grid[3:6]  # axes are row-major
    assert [ax.get_title() for ax in image_row] == ["cat", "car_1", "dog_2"]
    assert clickme_row[0].get_ylabel() == "ClickMe" and grid[6].get_ylabel() == "Saliency"
    # opacity is the (non-negative) map divided by its maximum, times the overlay alpha
    expected = maps["clickme"]["car_1"] / maps["clickme"]["car_1"].max()
    np.testing.assert_allclose(_overlay_alpha(grid[4]), OVERLAY_ALPHA * expected, rtol=1e-6)
    assert fig.axes[-1].get_ylabel() == "Map value (normalised)"  # colour bar


def test_example_maps_limits_images_and_marks_absent_maps(images, maps):
    del maps["saliency"]["dog_2"]
    fig = panels.example_maps(images, maps, max_images=3)
    grid = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert _texts(grid[8]) == ["no map"] and len(grid[8].images) == 1  # image only
    fig = panels.example_maps(images, maps, max_images=2)
    assert len([ax for ax in fig.axes if ax.get_label() != "<colorbar>"]) == 3 * 2


def test_example_maps_scaling_flat_zero_and_signed_maps(images):
    image = {"a": images["cat_0"]}
    flat = panels.example_maps(image, {"clickme": {"a": np.full((4, 4), 3.0)}})
    assert np.all(_overlay_alpha(flat.axes[1]) == pytest.approx(OVERLAY_ALPHA))
    zero = panels.example_maps(image, {"clickme": {"a": np.zeros((4, 4))}})
    assert np.all(_overlay_alpha(zero.axes[1]) == 0)
    signed = panels.example_maps(image, {"clickme": {"a": np.array([[-1.0, 0.0], [1.0, 3.0]])}})
    np.testing.assert_allclose(_overlay_alpha(signed.axes[1]), OVERLAY_ALPHA * np.array([[0, 0.25], [0.5, 1]]))


@pytest.mark.parametrize(
    "image, message",
    [
        (np.zeros((4, 4, 2)), "(H, W) or (H, W, 3)"),
        (np.full((4, 4), 2.0), "in [0, 1]"),
        (np.full((4, 4), np.nan), "finite image values"),
    ],
)
def test_example_maps_rejects_bad_images(image, message):
    with pytest.raises(InputError, match=re.escape(message)):
        panels.example_maps({"a": image}, {"clickme": {"a": np.ones((4, 4))}})


def test_example_maps_rejects_bad_maps(images):
    with pytest.raises(InputError, match="2-D"):
        panels.example_maps(images, {"clickme": {"cat_0": np.ones((4, 4, 3))}})
    with pytest.raises(InputError, match="finite"):
        panels.example_maps(images, {"clickme": {"cat_0": np.full((4, 4), np.inf)}})
    with pytest.raises(InputError, match="non-empty mapping source"):
        panels.example_maps(images, {})
    with pytest.raises(InputError, match="should map image_id"):
        panels.example_maps(images, {"clickme": [np.ones((4, 4))]})
    with pytest.raises(InputError, match="max_images >= 1") as err:
        panels.example_maps(images, {"clickme": {}}, max_images=0)
    assert err.value.field == "max_images"


# ----------------------------------------------------------------------------- attention
def test_attention_panels_delta_row(images, maps):
    attention = {
        "gala": {i: np.eye(7) for i in images},
        "gala_clickme": {i: m[::4, ::4] for i, m in maps["clickme"].items()},
    }
    first = {i: np.full((32, 32), 2.0) for i in images}
    second = {i: -3 * m for i, m in maps["clickme"].items()}
    fig = panels.attention_panels(images, attention, {"gala": first, "gala_clickme": second})
    grid = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(grid) == 4 * 3  # image, two attention rows, SmoothGrad delta
    delta_ax = grid[9]  # last row, first column
    # each map divided by its largest absolute value, then second - first
    expected = -maps["clickme"]["cat_0"] / maps["clickme"]["cat_0"].max() - 1.0
    np.testing.assert_allclose(delta_ax.images[0].get_array(), expected, rtol=1e-6)
    assert delta_ax.images[0].get_clim() == (-1, 1)
    assert "gala_clickme \u2212 gala" in delta_ax.get_ylabel()
    assert len([ax for ax in fig.axes if ax.get_label() == "<colorbar>"]) == 2


def test_attention_panels_without_smoothgrad(images):
    fig = panels.attention_panels(images, {"gala": {i: np.eye(3) for i in images}})
    assert len([ax for ax in fig.axes if ax.get_label() != "<colorbar>"]) == 2 * 3


def test_attention_panels_needs_exactly_two_smoothgrad_models(images):
    one = {i: np.ones((32, 32)) for i in images}
    with pytest.raises(InputError, match="exactly two models") as err:
        panels.attention_panels(images, {"gala": one}, {"a": one, "b": one, "c": one})
    assert err.value.field == "smoothgrad"


# ----------------------------------------------------------------------------- accuracy curves
def _errorbar_y(container):
    return np.asarray(container.lines[0].get_ydata(), float)


def test_accuracy_curves(accuracy, psychometric, level_tests):
    fig = figures.accuracy_curves(accuracy, psychometric, level_tests)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    # levels are percent of the reveal budget (a pixel count), not of the image
    assert ax.get_xlabel() == "Important features revealed (% of the reveal budget)"
    assert "Accuracy" in ax.get_ylabel()
    # per group: the revealed levels, then the intact image as a square at the "Full" tick
    assert len(ax.containers) == 4
    clickme, clickme_full = ax.containers[:2]
    np.testing.assert_allclose(_errorbar_y(clickme), accuracy.query("group == 'clickme' and not intact")["accuracy"])
    segments = clickme.lines[2][0].get_segments()
    np.testing.assert_allclose([s[1, 1] - s[0, 1] for s in segments], 2 * 0.02)
    full_x = accuracy.query("not intact")["level"].max() * figures.FULL_IMAGE_POSITION
    assert clickme_full.lines[0].get_marker() == "s"
    dodge = 10 ** -(figures.DODGE / 2)  # two groups: the first sits half a dodge left
    np.testing.assert_allclose(np.asarray(clickme_full.lines[0].get_xdata(), float), [full_x * dodge])
    np.testing.assert_allclose(
        np.asarray(clickme.lines[0].get_xdata(), float),
        accuracy.query("group == 'clickme' and not intact")["level"] * dodge,
    )
    np.testing.assert_allclose(_errorbar_y(clickme_full), [0.95])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "3", "10", "30", "100", "Full"]
    # stars from the Holm p values of the significant conditions only (intact one included)
    assert sorted(_texts(ax)) == sorted(["***", "**", "*", "*"])
    full_star = [t for t in ax.texts if t.get_position()[0] == pytest.approx(full_x)]
    assert len(full_star) == 1 and full_star[0].get_position()[1] == pytest.approx(0.95 + 0.01 + 0.015)
    labels = ax.get_legend_handles_labels()[1]
    assert sorted(labels) == ["Chance", "ClickMe", "Saliency"]
    # fitted curves: one line per group with the dense predictions
    fitted = [line for line in ax.lines if len(line.get_xdata()) == 20]
    assert len(fitted) == 2


def test_accuracy_curves_star_sits_above_the_highest_error_bar(accuracy, level_tests):
    fig = figures.accuracy_curves(accuracy, level_tests=level_tests)
    level = level_tests["level"].iloc[1]
    star = next(t for t in fig.axes[0].texts if t.get_text() == "***")
    revealed = accuracy[~accuracy["intact"]]
    top = (revealed["accuracy"] + revealed["sem"])[np.isclose(revealed["level"], level)].max()
    assert star.get_position()[0] == pytest.approx(level)
    assert star.get_position()[1] == pytest.approx(top + 0.015)


def test_accuracy_curves_without_optional_tables_or_intact(accuracy):
    fig = figures.accuracy_curves(accuracy.drop(columns="intact").query("level < 100"))
    ax = fig.axes[0]
    assert len(ax.containers) == 2 and _texts(ax) == []
    assert "Full" not in [t.get_text() for t in ax.get_xticklabels()]


def test_accuracy_curves_reads_intact_as_text(accuracy):
    fig = figures.accuracy_curves(accuracy.assign(intact=accuracy["intact"].map(str)))
    assert len(fig.axes[0].containers) == 4


def test_accuracy_curves_bad_input(accuracy):
    with pytest.raises(InputError, match="missing") as err:
        figures.accuracy_curves(accuracy.drop(columns="sem"))
    assert err.value.field == "sem"
    with pytest.raises(InputError, match="levels > 0"):
        figures.accuracy_curves(accuracy.assign(level=0.0))
    with pytest.raises(InputError, match="only intact"):
        figures.accuracy_curves(accuracy.assign(intact=True))
    with pytest.raises(InputError, match="true/false") as err:
        figures.accuracy_curves(accuracy.assign(intact="maybe"))
    assert err.value.field == "intact"
    with pytest.raises(InputError, match="empty"):
        figures.accuracy_curves(accuracy.iloc[:0])
    with pytest.raises(InputError, match="DataFrame"):
        figures.accuracy_curves(accuracy.to_dict())


# ----------------------------------------------------------------------------- histograms
def test_participants_histogram(participants):
    fig = figures.participants_histogram(participants)
    ax = fig.axes[0]
    heights = [p.get_height() for p in ax.patches]
    assert heights == [1, 0, 2, 1, 0, 0, 1]  # counts 3..9 in integer bins
    assert ax.patches[0].get_x() == pytest.approx(2.5)
    mean_line = ax.lines[0]
    assert mean_line.get_xdata()[0] == pytest.approx(5.6)
    assert ax.get_xlabel() == "Participants per map" and ax.get_ylabel() == "Images"


def test_participants_histogram_bad_input(participants):
    with pytest.raises(InputError, match="non-negative"):
        figures.participants_histogram(participants.assign(n_participants=-1))
    with pytest.raises(InputError, match="count for every image, got nan"):  # found by the fuzz test
        figures.participants_histogram(participants.assign(n_participants=np.nan))
    with pytest.raises(InputError) as err:
        figures.participants_histogram(participants.rename(columns={"n_participants": "n"}))
    assert err.value.field == "n_participants"


def test_reliability_null_marks_means(reliability):
    fig = figures.reliability_null(reliability, bins=6)
    ax = fig.axes[0]
    means = sorted(line.get_xdata()[0] for line in ax.lines)
    assert means == pytest.approx([0.2, 0.6])
    assert sorted(_texts(ax)) == ["0.20", "0.60"]
    assert sum(p.get_height() for p in ax.patches) == 6
    labels = ax.get_legend_handles_labels()[1]
    assert labels == ["Human (same image), n = 3", "Null (different images), n = 3"]


def test_reliability_null_ignores_nan_and_rejects_missing_columns(reliability):
    with_nan = pd.concat([reliability, pd.DataFrame({"rho": [np.nan], "distribution": ["null"]})])
    fig = figures.reliability_null(with_nan)
    assert sorted(line.get_xdata()[0] for line in fig.axes[0].lines) == pytest.approx([0.2, 0.6])
    with pytest.raises(InputError, match="distribution"):
        figures.reliability_null(reliability.drop(columns="distribution"))


# ----------------------------------------------------------------------------- lambda sweep
def test_lambda_sweep(sweep):
    fig = figures.lambda_sweep(sweep)
    accuracy_ax, fraction_ax = fig.axes
    assert accuracy_ax.get_xscale() == "symlog"  # lambda = 0 is present
    assert [t.get_text() for t in accuracy_ax.get_xticklabels()] == ["0", "0.001", "0.01", "0.1", "1"]
    np.testing.assert_allclose(
        np.asarray(accuracy_ax.containers[0].lines[0].get_ydata(), float), [0.7, 0.71, 0.72, 0.72, 0.7]
    )
    np.testing.assert_allclose(
        np.asarray(fraction_ax.containers[0].lines[0].get_ydata(), float), [0.2, 0.4, 0.6, 0.7, 0.72]
    )
    # S.E.M. of (x - 0.01, x + 0.01) is 0.01
    segment = fraction_ax.containers[0].lines[2][0].get_segments()[0]
    assert segment[1, 1] - segment[0, 1] == pytest.approx(0.02)
    # ceiling and null floor are rho values: in fraction units 1 and null / ceiling
    levels = {
        line.get_label(): line.get_ydata()[0]
        for line in fraction_ax.lines
        if line.get_label().startswith(("Human", "Null"))
    }
    assert levels == pytest.approx({"Human ceiling (\u03c1 = 0.50)": 1.0, "Null floor (\u03c1 = 0.10)": 0.2})
    assert fraction_ax.get_ylabel() == "Fraction of human map variability"


def test_lambda_sweep_log_axis_without_zero(sweep):
    fig = figures.lambda_sweep(sweep[sweep["lambda"] > 0])
    assert fig.axes[0].get_xscale() == "log"


def test_lambda_sweep_bad_input(sweep):
    with pytest.raises(InputError, match="proportion") as err:
        figures.lambda_sweep(sweep.assign(top1_accuracy=30.0))
    assert err.value.field == "top1_accuracy"
    with pytest.raises(InputError, match="positive ceiling"):
        figures.lambda_sweep(sweep.assign(ceiling=0.0))
    fig = figures.lambda_sweep(sweep.assign(top1_accuracy=np.nan))  # unlabelled validation set
    assert np.isnan(np.asarray(fig.axes[0].containers[0].lines[0].get_ydata(), float)).all()
    with pytest.raises(InputError, match="lambda >= 0"):
        figures.lambda_sweep(sweep.assign(**{"lambda": -1.0}))
    with pytest.raises(InputError, match="null"):
        figures.lambda_sweep(sweep.drop(columns="null"))


# ----------------------------------------------------------------------------- contact sheet
def test_contact_sheet(images):
    frames = {
        "clickme": {1.0: images["cat_0"], 10.0: images["cat_0"], 100.0: images["cat_0"]},
        "saliency": {1.0: images["car_1"][..., 0], 100.0: images["car_1"][..., 0]},
    }
    fig = panels.contact_sheet(frames, title="cat_0")
    assert len(fig.axes) == 2 * 3
    assert [ax.get_title() for ax in fig.axes[:3]] == ["1%", "10%", "100%"]
    assert fig.axes[0].get_ylabel() == "ClickMe" and fig.axes[3].get_ylabel() == "Saliency"
    assert len(fig.axes[4].images) == 0  # saliency has no 10% stimulus: empty cell
    np.testing.assert_allclose(fig.axes[3].images[0].get_array(), images["car_1"][..., 0] / 255)
    assert fig.get_suptitle() == "cat_0"


def test_contact_sheet_bad_input():
    with pytest.raises(InputError, match="non-empty"):
        panels.contact_sheet({})
    with pytest.raises(InputError, match="level 10"):
        panels.contact_sheet({"clickme": {10: np.zeros((4, 4, 5))}})


# ----------------------------------------------------------------------------- training curves
def test_training_curves(curves):
    fig = figures.training_curves(curves)
    accuracy_ax, alignment_ax = fig.axes
    assert len(accuracy_ax.lines) == 4 and len(alignment_ax.lines) == 4
    assert len(fig.legends) == 1 and len(fig.legends[0].get_texts()) == 4
    styles = {line.get_label(): line.get_linestyle() for line in alignment_ax.lines}
    assert styles["gala (train)"] == "-" and styles["gala (validation)"] == "--"
    np.testing.assert_allclose(alignment_ax.lines[0].get_ydata(), [0, 0.1, 0.2, 0.3])


def test_training_curves_bad_input(curves):
    with pytest.raises(InputError) as err:
        figures.training_curves(curves.drop(columns="map_alignment"))
    assert err.value.field == "map_alignment"


def test_text_in_a_numeric_column_is_an_input_error(accuracy, sweep):
    """Found by tests/test_fuzz.py: a string level once raised TypeError from `level <= 0`."""
    with pytest.raises(InputError, match="expected numbers in column 'level'") as err:
        figures.accuracy_curves(accuracy.assign(level=accuracy["level"].astype(str)))
    assert err.value.field == "level"
    with pytest.raises(InputError, match="expected numbers in column 'ceiling'"):
        figures.lambda_sweep(sweep.assign(ceiling="one"))


def test_empty_intact_cell_is_an_input_error(accuracy):
    """Found by tests/test_fuzz.py: an empty ``intact`` cell once raised TypeError while sorting."""
    flags = accuracy["intact"].astype(object)
    flags.iloc[0] = np.nan
    with pytest.raises(InputError, match=r"expected 'intact' to be true/false, got \['', 'false', 'true'\]"):
        figures.accuracy_curves(accuracy.assign(intact=flags))


def test_reliability_row_without_a_distribution_is_an_input_error(reliability):
    """Found by tests/test_fuzz.py: an empty distribution cell once raised KeyError: nan."""
    with pytest.raises(InputError, match="distribution name") as err:
        figures.reliability_null(reliability.assign(distribution=[None] + ["human"] * 5))
    assert err.value.field == "distribution"
