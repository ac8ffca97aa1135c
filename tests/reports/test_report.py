"""The I/O layer: gathering outputs into report.html, figures/ and tables/."""

from __future__ import annotations

import base64
import io
import re
import shutil
from importlib.metadata import version

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from clickme_analysis.cli import main
from clickme_analysis.errors import InputError
from reports.report import build_report, gather, read_table

FIGURES = ["clickme_maps", "participants_per_map", "reliability", "contact_sheet_cat_0",
           "contact_sheet_car_1", "accuracy_curves", "lambda_sweep", "training_curves",
           "attention_maps", "game_maps"]
TABLES = ["reliability_summary", "saliency_metrics", "level_tests", "psychometric_thresholds",
          "model_scores", "game_statistics", "learning_check"]
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


def test_embedded_png_is_the_saved_png(built_report):
    _, html_path = built_report
    html = html_path.read_text()
    saved = (html_path.parent / "figures" / "lambda_sweep.png").read_bytes()
    assert base64.b64encode(saved).decode() in html


def test_empty_inputs_list_every_part_as_missing(tmp_path):
    (tmp_path / "empty").mkdir()
    gathered = gather(tmp_path / "empty")
    assert gathered.sections == {} and gathered.problems == []
    assert len(gathered.missing) == 14
    assert any("accuracy.csv" in m for m in gathered.missing)
    html = build_report(tmp_path / "empty", tmp_path / "report").read_text()
    assert "Missing parts" in html and "<img" not in html


def test_missing_stage_is_listed_and_the_rest_is_built(outputs_root, tmp_path):
    shutil.rmtree(outputs_root / "experiment")
    gathered = gather(outputs_root)
    assert gathered.missing == [
        f"Psychophysics: psychophysics (needs {outputs_root / 'experiment' / 'accuracy.csv'})"]
    assert "Psychophysics" not in gathered.sections
    assert [i.name for i in gathered.sections["Models"]] == [
        "model_scores", "lambda_sweep", "training_curves", "attention_maps"]


def test_optional_inputs_are_optional(outputs_root):
    for path in ["clickme/saliency_maps.npz", "experiment/psychometric.csv",
                 "experiment/level_tests.csv", "clickme/labels.csv",
                 "experiment/psychometric_params.csv"]:
        (outputs_root / path).unlink()
    gathered = gather(outputs_root)
    assert gathered.missing == [] and gathered.problems == []
    names = [i.name for items in gathered.sections.values() for i in items]
    assert "level_tests" not in names
    assert "accuracy_curves" in names and "clickme_maps" in names


def test_broken_inputs_are_listed_with_the_reason(outputs_root):
    scores = outputs_root / "models" / "scores.csv"
    scores.write_text("model,top1_err\nResNet-50,0.2\n")
    (outputs_root / "clickme" / "maps.npz").write_bytes(b"not a zip")
    np.savez(outputs_root / "models" / "attention.npz", images=np.zeros((1, 4, 4)))
    (outputs_root / "clickme" / "reliability_summary.json").write_text("{broken")
    gathered = gather(outputs_root)
    problems = "\n".join(gathered.problems)
    assert f"{scores}, field 'top5_err': CSV output lacks columns" in problems
    assert "maps.npz: not a ClickMe map archive" in problems
    assert "attention.npz, field 'attention'" in problems
    assert "reliability_summary.json: not valid JSON" in problems
    assert "ClickMe game: game maps" in problems  # its ClickMe row reads the broken archive
    assert len(gathered.problems) == 5
    assert "lambda_sweep" in [i.name for i in gathered.sections["Models"]]
    assert "reliability" in [i.name for i in gathered.sections["ClickMe maps"]]


def test_attention_archive_as_the_models_stage_writes_it(outputs_root):
    """Normalised (N, 3, H, W) network inputs, ClickMe maps and one bare member per model."""
    rng = np.random.default_rng(0)
    np.savez(outputs_root / "models" / "attention.npz",
             images=rng.normal(size=(2, 3, 30, 30)).astype(np.float32),
             human_maps=rng.random((2, 30, 30)), gala=rng.random((2, 30, 30)),
             gala_clickme=rng.random((2, 30, 30)))
    gathered = gather(outputs_root)
    assert gathered.problems == []
    item = next(i for i in gathered.sections["Models"] if i.name == "attention_maps")
    grid = [ax for ax in item.content.axes if ax.get_label() != "<colorbar>"]
    assert len(grid) == 4 * 2  # image, ClickMe map, two models; two images
    assert [grid[k].get_ylabel() for k in (0, 2, 4, 6)] == ["Image", "ClickMe map", "gala",
                                                           "gala_clickme"]
    assert [ax.get_title() for ax in grid[:2]] == ["image 1", "image 2"]
    shown = grid[0].images[0].get_array()
    assert shown.shape == (30, 30, 3) and shown.min() == 0 and shown.max() == 1
    assert "first map row: the ClickMe map" in item.caption


def test_attention_archive_with_mismatched_maps_is_a_problem(outputs_root):
    np.savez(outputs_root / "models" / "attention.npz", gala=np.ones((2, 4, 4)),
             other=np.ones((3, 4, 4)))
    problems = gather(outputs_root).problems
    assert len(problems) == 1 and "field 'other': expected (N, h, w) maps with N = 2" in problems[0]


def test_data_problem_found_by_a_figure_names_the_file(outputs_root):
    accuracy = outputs_root / "experiment" / "accuracy.csv"
    frame = pd.read_csv(accuracy)
    frame.assign(level=0.0).to_csv(accuracy, index=False)
    problems = gather(outputs_root).problems
    assert problems == [f"Psychophysics: psychophysics: {accuracy}, field 'level': accuracy: "
                        "expected levels > 0 (% revealed, log axis), got 0"]


def test_bad_stimulus_image_is_a_problem(outputs_root):
    bad = next((outputs_root / "stimuli" / "images").glob("cat_0_clickme_*.png"))
    bad.write_bytes(b"not a png")
    problems = gather(outputs_root).problems
    assert len(problems) == 1 and f"{bad}: could not read as an image" in problems[0]


def test_read_table_keeps_null_and_na_as_names(tmp_path):
    path = tmp_path / "rel.csv"
    path.write_text("image_id,rho,distribution\nNA,0.5,human\nb,,null\n")
    frame = read_table(path, ["rho", "distribution"])
    assert frame["distribution"].tolist() == ["human", "null"]
    assert frame["image_id"].tolist() == ["NA", "b"] and np.isnan(frame["rho"].iloc[1])
    with pytest.raises(InputError, match=r"lacks columns \[.level.\]") as err:
        read_table(path, ["rho", "level"])
    assert err.value.field == "level" and err.value.path == str(path)


def test_inputs_must_be_a_directory(tmp_path):
    with pytest.raises(InputError, match="expected a directory"):
        gather(tmp_path / "nope")


def test_cli_prints_report_path(outputs_root, tmp_path, capsys):
    for stage in ("models", "stimuli", "experiment"):  # keep it quick: the ClickMe parts only
        shutil.rmtree(outputs_root / stage)
    out = tmp_path / "cli_report"
    assert main(["report", "--inputs", str(outputs_root), "--out", str(out),
                 "--no-progress"]) == 0
    assert capsys.readouterr().out.strip() == str(out / "report.html")
    assert (out / "report.html").is_file()


def test_cli_bad_inputs_exit_2(tmp_path, capsys):
    assert main(["report", "--inputs", str(tmp_path / "nope"), "--out", str(tmp_path)]) == 2
    assert "expected a directory" in capsys.readouterr().err


def test_examples_prefer_distinct_labels_and_alternate_categories(outputs_root, images):
    from clickme_analysis.archive import save_maps

    clickme = outputs_root / "clickme"
    ids = ["cat_a", "cat_b", "dog", "car", "cup"]
    labels = pd.DataFrame({"image_id": ids, "label": ["cat", "cat", "dog", "car", "cup"],
                           "category": ["animal"] * 3 + ["non-animal"] * 2})
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
    assert items["game_statistics"].content.to_dict("list") == {"statistic": ["n_rounds", "success_rate"],
                                                                "value": [4.0, 0.75]}
    assert items["learning_check"].content["p"].tolist() == [0.5]
    assert len(items["game_maps"].content.axes) == 2 * 3 + 1  # two images x (image, game, ClickMe), colour bar
