"""The I/O layer: gathering outputs into report.html, figures/ and tables/."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
from importlib.metadata import version

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from clickme_analysis.errors import InputError
from clickme_app.cli import main
from reports.inputs import read_output
from reports.provenance import provenance
from reports.report import build_report, gather

FIGURES = [
    "clickme_maps",
    "participants_per_map",
    "reliability",
    "contact_sheet_cat_0",
    "contact_sheet_car_1",
    "accuracy_curves",
    "lambda_sweep",
    "training_curves",
    "attention_maps",
    "game_maps",
    "rt_curves",
    "effect_sizes",
]
TABLES = [
    "provenance",
    "reliability_summary",
    "saliency_metrics",
    "level_tests",
    "psychometric_thresholds",
    "effect_size_table",
    "model_scores",
    "game_statistics",
    "learning_check",
]
DATA_URI = re.compile(r"<img src='data:image/png;base64,([A-Za-z0-9+/=]+)'")


def test_full_tree_gives_every_figure_and_table(built_report):
    _, html_path = built_report
    out = html_path.parent
    for name in FIGURES:
        assert (out / "figures" / f"{name}.pdf").read_bytes()[:5] == b"%PDF-"
        assert (out / "figures" / f"{name}.png").is_file()
    for name in TABLES:
        assert {p.suffix for p in (out / "tables").glob(f"{name}.*")} == {".md", ".tex", ".csv"}
    assert sorted(p.stem for p in (out / "figures").glob("*.png")) == sorted(FIGURES)


def test_html_embeds_every_figure_with_a_caption(built_report):
    _, html_path = built_report
    html = html_path.read_text()
    assert "Missing parts" not in html
    assert f"clickme-toolkit {version('clickme-toolkit')}" in html
    uris = DATA_URI.findall(html)
    assert len(uris) == len(FIGURES) == html.count("<figcaption>")
    for uri in uris:  # self-contained: every image is a decodable PNG
        with Image.open(io.BytesIO(base64.b64decode(uri))) as image:
            assert image.format == "PNG" and image.width > 100
    assert html.count("<table") == len(TABLES)
    assert "src='http" not in html and "src='file" not in html
    for i in range(1, len(FIGURES) + 1):
        assert f"<b>Figure {i}." in html


def test_every_table_scrolls_in_its_own_box(built_report):
    """Issue 21 newcomer row: a wide table (the alignment summary) ran past the page."""
    _, html_path = built_report
    html = html_path.read_text()
    boxed = re.findall(r"<div class='table-scroll'>\s*<table", html)
    assert len(boxed) == html.count("<table") == len(TABLES)
    assert re.search(r"\.table-scroll \{[^}]*overflow: auto", html)


def test_embedded_png_is_the_saved_png(built_report):
    _, html_path = built_report
    html = html_path.read_text()
    saved = (html_path.parent / "figures" / "lambda_sweep.png").read_bytes()
    assert base64.b64encode(saved).decode() in html


def test_empty_inputs_list_every_part_as_missing(tmp_path):
    (tmp_path / "empty").mkdir()
    gathered = gather(tmp_path / "empty")
    assert gathered.sections == {} and gathered.problems == []
    assert len(gathered.missing) == 15
    assert any("accuracy.csv" in m for m in gathered.missing)
    html = build_report(tmp_path / "empty", tmp_path / "report").read_text()
    assert "Missing parts" in html and "<img" not in html


def test_missing_stage_is_listed_and_the_rest_is_built(outputs_root, tmp_path):
    shutil.rmtree(outputs_root / "experiment")
    gathered = gather(outputs_root)
    assert gathered.missing == [
        f"Psychophysics: psychophysics (needs {outputs_root / 'experiment' / 'accuracy.csv'})",
        f"Psychophysics: statistics part (needs {outputs_root / 'experiment' / 'rt.csv'})",
    ]
    assert "Psychophysics" not in gathered.sections
    assert [i.name for i in gathered.sections["Models"]] == [
        "model_scores",
        "lambda_sweep",
        "training_curves",
        "attention_maps",
    ]


def test_optional_inputs_are_optional(outputs_root):
    for path in [
        "clickme/saliency_maps.npz",
        "experiment/psychometric.csv",
        "experiment/level_tests.csv",
        "clickme/labels.csv",
        "experiment/psychometric_params.csv",
    ]:
        (outputs_root / path).unlink()
    gathered = gather(outputs_root)
    assert gathered.missing == [] and gathered.problems == []
    names = [i.name for items in gathered.sections.values() for i in items]
    assert "level_tests" not in names
    assert "accuracy_curves" in names and "clickme_maps" in names


def test_broken_inputs_are_listed_with_the_reason(outputs_root):
    scores = outputs_root / "models" / "scores.csv"
    scores.write_text("model,top1_accuracy\nResNet-50,0.8\n")
    (outputs_root / "clickme" / "maps.npz").write_bytes(b"not a zip")
    np.savez(outputs_root / "models" / "attention.npz", images=np.zeros((1, 4, 4)))
    (outputs_root / "clickme" / "reliability_summary.json").write_text("{broken")
    gathered = gather(outputs_root)
    problems = "\n".join(gathered.problems)
    assert f"{scores}, field 'top5_accuracy': CSV output lacks columns" in problems
    assert "maps.npz: expected a ClickMe map archive" in problems
    assert "attention.npz, field 'attention'" in problems
    assert "reliability_summary.json: not valid JSON" in problems
    assert "ClickMe game: game maps" in problems  # its ClickMe row reads the broken archive
    assert len(gathered.problems) == 5
    assert "lambda_sweep" in [i.name for i in gathered.sections["Models"]]
    assert "reliability" in [i.name for i in gathered.sections["ClickMe maps"]]


def test_attention_archive_as_the_models_stage_writes_it(outputs_root):
    """Normalised (N, 3, H, W) network inputs, ClickMe maps and one bare member per model."""
    rng = np.random.default_rng(0)
    np.savez(
        outputs_root / "models" / "attention.npz",
        images=rng.normal(size=(2, 3, 30, 30)).astype(np.float32),
        human_maps=rng.random((2, 30, 30)),
        gala=rng.random((2, 30, 30)),
        gala_clickme=rng.random((2, 30, 30)),
    )
    gathered = gather(outputs_root)
    assert gathered.problems == []
    item = next(i for i in gathered.sections["Models"] if i.name == "attention_maps")
    grid = [ax for ax in item.content.axes if ax.get_label() != "<colorbar>"]
    assert len(grid) == 4 * 2  # image, ClickMe map, two models; two images
    assert [grid[k].get_ylabel() for k in (0, 2, 4, 6)] == ["Image", "ClickMe map", "gala", "gala_clickme"]
    assert [ax.get_title() for ax in grid[:2]] == ["image 1", "image 2"]
    shown = grid[0].images[0].get_array()
    assert shown.shape == (30, 30, 3) and shown.min() == 0 and shown.max() == 1
    assert "first map row: the ClickMe map" in item.caption


def test_attention_archive_with_mismatched_maps_is_a_problem(outputs_root):
    np.savez(outputs_root / "models" / "attention.npz", gala=np.ones((2, 4, 4)), other=np.ones((3, 4, 4)))
    problems = gather(outputs_root).problems
    assert len(problems) == 1 and "field 'other': expected (N, h, w) numeric maps with N = 2" in problems[0]


@pytest.mark.parametrize(
    "arrays, field, expected",
    [
        ({"gala": np.float64(1.0)}, "gala", "expected (N, h, w) numeric maps for every model, got float64 ()"),
        ({"gala": np.array([["a"]] * 2)}, "gala", "expected (N, h, w) numeric maps for every model"),
        (
            {"gala": np.ones((2, 4, 4)), "image_ids": np.array(["a"])},
            "image_ids",
            "expected 2 image ids (one per map), got 1",
        ),
        (
            {"gala": np.ones((2, 4, 4)), "images": np.ones((1, 4, 4, 3))},
            "images",
            "expected 2 images (one per map), got 1",
        ),
        ({"gala": np.ones((2, 4, 4)), "images": np.array(["x", "y"])}, "images", "expected numeric images"),
        (
            {"gala": np.ones((2, 4, 4)), "human_maps": np.ones((3, 4, 4))},
            "human_maps",
            "expected (N, h, w) numeric maps with N = 2 for every model, got float64 (3, 4, 4)",
        ),
    ],
)
def test_attention_archive_members_of_the_wrong_shape_or_type_are_problems(outputs_root, arrays, field, expected):
    """Cases the fuzz test found (a 0-d member once raised TypeError: len() of unsized object)."""
    np.savez(outputs_root / "models" / "attention.npz", **arrays)
    problems = gather(outputs_root).problems
    assert len(problems) == 1 and f"field '{field}': {expected}" in problems[0]


def test_reliability_summary_must_be_an_object(outputs_root):
    (outputs_root / "clickme" / "reliability_summary.json").write_text('"method"')
    problems = gather(outputs_root).problems
    assert len(problems) == 1 and problems[0].endswith("reliability_summary.json: expected a JSON object, got str")


def test_data_problem_found_by_a_figure_names_the_file(outputs_root):
    accuracy = outputs_root / "experiment" / "accuracy.csv"
    frame = pd.read_csv(accuracy)
    frame.assign(level=0.0).to_csv(accuracy, index=False)
    problems = gather(outputs_root).problems
    assert problems == [
        f"Psychophysics: psychophysics: {accuracy}, field 'level': accuracy: "
        "expected levels > 0 (% revealed, log axis), got 0"
    ]


def test_bad_stimulus_image_is_a_problem(outputs_root):
    bad = next((outputs_root / "stimuli" / "images").glob("cat_0_clickme_*.png"))
    bad.write_bytes(b"not a png")
    problems = gather(outputs_root).problems
    assert len(problems) == 1 and f"{bad}: cannot read image" in problems[0]


def test_older_score_and_alignment_columns_are_read_as_today_s(outputs_root):
    """Issue 21 step 5 renamed the columns of ``clickme score`` (``top1_err``, ``fraction_human``,
    ``null_floor``) and ``clickme alignment`` (``alignment*``): outputs written before still report."""
    scores = outputs_root / "models" / "scores.csv"
    scores.write_text("model,top1_err,top5_err,fraction_human\nResNet-50,0.25,0.1,0.4\n")
    frame = read_output(scores, ["model", "top1_accuracy", "top5_accuracy", "fraction_of_human"], ["top1_accuracy"])
    assert frame[["top1_accuracy", "top5_accuracy", "fraction_of_human"]].iloc[0].tolist() == pytest.approx(
        [0.75, 0.9, 0.4]
    )
    (outputs_root / "models" / "sweep.csv").write_text(
        "lambda,top1_err,fraction_human,ceiling,null_floor\n0,0.3,0.2,0.5,0.1\n1,0.28,0.6,0.5,0.1\n"
    )
    gathered = gather(outputs_root)
    assert not [p for p in gathered.problems if "scores.csv" in p or "sweep.csv" in p]
    names = [i.name for items in gathered.sections.values() for i in items]
    assert {"model_scores", "lambda_sweep"} <= set(names)


def test_read_output_keeps_null_and_na_as_names(tmp_path):
    path = tmp_path / "rel.csv"
    path.write_text("image_id,rho,distribution\nNA,0.5,human\nb,,null\n")
    frame = read_output(path, ["rho", "distribution"])
    assert frame["distribution"].tolist() == ["human", "null"]
    assert frame["image_id"].tolist() == ["NA", "b"] and np.isnan(frame["rho"].iloc[1])
    with pytest.raises(InputError, match=r"lacks columns \[.level.\]") as err:
        read_output(path, ["rho", "level"])
    assert err.value.field == "level" and err.value.path == str(path)


def test_inputs_must_be_a_directory(tmp_path):
    with pytest.raises(InputError, match="expected a directory"):
        gather(tmp_path / "nope")


def test_cli_prints_report_path(outputs_root, tmp_path, capsys):
    for stage in ("models", "stimuli", "experiment"):  # keep it quick: the ClickMe parts only
        shutil.rmtree(outputs_root / stage)
    out = tmp_path / "cli_report"
    assert main(["report", "--inputs", str(outputs_root), "--out", str(out), "--no-progress"]) == 0
    assert capsys.readouterr().out.strip() == str(out / "report.html")
    assert (out / "report.html").is_file()


def test_cli_bad_inputs_exit_2(tmp_path, capsys):
    assert main(["report", "--inputs", str(tmp_path / "nope"), "--out", str(tmp_path)]) == 2
    assert "expected a directory" in capsys.readouterr().err


def test_examples_prefer_distinct_labels_and_alternate_categories(outputs_root, images):
    from clickme_analysis.archive import save_maps

    clickme = outputs_root / "clickme"
    ids = ["cat_a", "cat_b", "dog", "car", "cup"]
    labels = pd.DataFrame(
        {"image_id": ids, "label": ["cat", "cat", "dog", "car", "cup"], "category": ["animal"] * 3 + ["non-animal"] * 2}
    )
    labels.to_csv(clickme / "labels.csv", index=False)
    for image_id in ids:
        Image.fromarray(images["cat_0"]).save(clickme / "images" / f"{image_id}.png")
    save_maps(clickme / "maps.npz", {i: np.eye(4) for i in ids})
    item = gather(outputs_root).sections["ClickMe maps"][0]
    titles = [ax.get_title() for ax in item.content.axes[:5]]
    assert titles == ["cat", "car", "dog", "cup", "cat"]


def test_contact_sheet_names_are_safe_file_names(outputs_root, tmp_path):
    manifest = outputs_root / "stimuli" / "manifest.csv"
    frame = pd.read_csv(manifest)
    frame["image_id"] = frame["image_id"].replace({"cat_0": "cat/0 'x'"})
    frame.to_csv(manifest, index=False)
    items = gather(outputs_root).sections["Stimuli"]
    assert [i.name for i in items] == ["contact_sheet_cat_0__x_", "contact_sheet_car_1"]
    assert items[0].title == "Stimuli: cat/0 'x'"


def test_game_section_shows_its_maps_statistics_and_learning_check(outputs_root):
    gathered = gather(outputs_root)
    items = {i.name: i for i in gathered.sections["ClickMe game"]}
    assert list(items) == ["game_maps", "game_statistics", "learning_check"]
    assert items["game_statistics"].content.to_dict("list") == {
        "statistic": ["n_rounds", "success_rate"],
        "value": [4.0, 0.75],
    }
    assert items["learning_check"].content["p"].tolist() == [0.5]
    assert len(items["game_maps"].content.axes) == 2 * 3 + 1  # two images x (image, game, ClickMe), colour bar


def _sessions(root, modes: dict) -> None:
    """experiment/data/<participant>.json as the runner writes them: ``runs[].mode``."""
    data = root / "experiment" / "data"
    data.mkdir(parents=True, exist_ok=True)
    for participant, run_modes in modes.items():
        (data / f"{participant}.json").write_text(
            json.dumps({"participant": participant, "runs": [{"mode": m} for m in run_modes]})
        )


def _captions(gathered, section: str) -> list[str]:
    return [i.caption for i in gathered.sections[section]]


def test_simulated_participants_are_said_in_captions_banner_and_table(outputs_root, tmp_path):
    _sessions(outputs_root, {"P000": ["simulate-windowless"], "P001": ["simulate"], "P002": ["lab"]})
    gathered = gather(outputs_root)
    assert gathered.provenance["experiment"].simulated is True
    for caption in _captions(gathered, "Psychophysics"):
        assert caption.endswith("Simulated data: 2 of 3 participants simulated (experiment/data/*.json).")
    assert not any("Simulated" in c for c in _captions(gathered, "Models"))
    table = gathered.sections["Data"][0].content
    assert table.set_index("Stage").loc["experiment", "Simulated"] == "yes"
    assert table.set_index("Stage").loc["clickme", "Simulated"] == "not recorded"
    html = build_report(outputs_root, tmp_path / "report").read_text()
    assert "<b>Simulated data.</b> experiment: 2 of 3 participants simulated." in html


def test_lab_sessions_are_not_called_simulated(outputs_root, tmp_path):
    _sessions(outputs_root, {"P000": ["lab"], "P001": ["lab", "lab"]})
    gathered = gather(outputs_root)
    assert gathered.provenance["experiment"].simulated is False
    assert gathered.provenance["experiment"].detail == "0 of 2 participants simulated"
    assert not any(
        "Simulated" in i.caption for items in gathered.sections.values() for i in items if i.name != "provenance"
    )
    assert "class='simulated'" not in build_report(outputs_root, tmp_path / "report").read_text()


def test_demo_marker_labels_the_clickme_players_and_the_stand_in(outputs_root):
    gathered = gather(outputs_root)  # a user's own outputs: no marker
    metrics = next(i for i in gathered.sections["ClickMe maps"] if i.name == "saliency_metrics")
    assert metrics.caption.startswith("The predicted maps given to `clickme metrics --pred` scored")
    assert not any("stand-in" in i.caption or "Simulated" in i.caption for i in gathered.sections["ClickMe maps"])
    (outputs_root / "clickme" / "demo_log.txt").write_text("12 simulated ClickMe players, not people\n")
    gathered = gather(outputs_root)
    items = {i.name: i.caption for i in gathered.sections["ClickMe maps"]}
    assert items["saliency_metrics"].startswith("The demo's bottom-up saliency stand-in")
    assert "saliency stand-in of the demo" in items["clickme_maps"]
    note = "Simulated data: the ClickMe players are simulated (the demo; clickme/demo_log.txt)."
    assert all(caption.endswith(note) for caption in items.values())
    assert gathered.provenance["clickme"].detail == "12 simulated ClickMe players, not people"


def test_game_sessions_give_the_game_provenance(outputs_root):
    sessions = [
        {"participant_id": "A", "mode": "simulate-headless"},
        {"participant_id": "A", "mode": "simulate-headless"},
        {"participant_id": "B", "mode": "lab"},
    ]
    (outputs_root / "game" / "session.json").write_text(json.dumps({"sessions": sessions}))
    found = provenance(outputs_root)["game"]
    assert (found.simulated, found.detail, found.source) == (True, "1 of 2 game players simulated", "game/session.json")


def test_broken_session_record_is_a_problem_not_a_crash(outputs_root):
    _sessions(outputs_root, {"P000": ["lab"]})
    (outputs_root / "experiment" / "data" / "P001.json").write_bytes(b"\xff{not json")
    gathered = gather(outputs_root)
    assert gathered.problems == [
        f"Data: provenance: {outputs_root / 'experiment' / 'data' / 'P001.json'}: "
        "not valid JSON: 'utf-8' codec can't decode byte 0xff in position 0: "
        "invalid start byte"
    ]
    assert "Psychophysics" in gathered.sections


def test_explain_panels_are_captioned_with_what_they_show(outputs_root):
    folder = outputs_root / "models" / "explain"
    folder.mkdir()
    png = io.BytesIO()
    Image.new("RGB", (200, 100)).save(png, format="PNG")
    for name in ("gradient_delta", "my_panel"):
        (folder / f"{name}.png").write_bytes(png.getvalue())
    items = {i.name: i for i in gather(outputs_root).sections["Models"] if i.name.startswith("explain_")}
    assert items["explain_gradient_delta"].caption.startswith(
        "One row per image: the image, the human (ClickMe) map when one was given, then SmoothGrad "
        "of each model and their difference"
    )
    assert "does not know what it shows" in items["explain_my_panel"].caption
    assert not any("Panel written by" in i.caption for i in items.values())


def test_captions_give_the_reveal_budget_as_a_share_of_the_image(outputs_root):
    manifest = outputs_root / "stimuli" / "manifest.csv"
    frame = pd.read_csv(manifest)
    # 32 x 32 images (1024 pixels): budgets of 256 and 512 pixels
    frame["budget"] = frame["image_id"].map({"cat_0": 256, "car_1": 512, "dog_2": 512})
    frame.to_csv(manifest, index=False)
    gathered = gather(outputs_root)
    sheets = _captions(gathered, "Stimuli")
    assert "this image's budget is 25% of its pixels" in sheets[0]
    assert "this image's budget is 50% of its pixels" in sheets[1]
    accuracy = _captions(gathered, "Psychophysics")[0]
    assert "the budget is 25-50% of an image's pixels" in accuracy
    assert "% of image" not in accuracy


def test_progress_bar_stays_off_when_stderr_is_not_a_terminal(outputs_root, tmp_path, capsys):
    build_report(outputs_root, tmp_path / "report", progress=True)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    "relative, text, expected",
    [
        (
            "experiment/accuracy.csv",
            "group,level,accuracy,sem\nclickme,1,0.5,0.1\nclickme,x,0.6,0.1\n",
            "accuracy.csv, line 3, field 'level': expected a number, got 'x'",
        ),
        (
            "models/sweep.csv",
            "lambda,top1_accuracy,fraction_of_human,ceiling,null\n0,0.7,0.2,one,0.1\n",
            "sweep.csv, line 2, field 'ceiling': expected a number, got 'one'",
        ),
        (
            "stimuli/manifest.csv",
            "image_id,map_source,level,path\na,clickme,1,\n",
            "manifest.csv, line 2, field 'path': expected a stimulus path and level in every row",
        ),
        (
            "game/learning_check.csv",
            "mean_first,mean_second,t,p,note\n0.5,0.6,1,0.3,x\n",
            "learning_check.csv, line 2, field 'note': expected a number, got 'x'",
        ),
    ],
)
def test_text_where_a_number_belongs_is_located(outputs_root, relative, text, expected):
    (outputs_root / relative).write_text(text)
    problems = gather(outputs_root).problems
    assert len(problems) == 1 and expected in problems[0]
