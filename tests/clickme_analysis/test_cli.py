import json

import numpy as np
import pandas as pd
import pytest

from clickme_analysis.archive import MapArchive, save_maps
from clickme_app.cli import main


@pytest.fixture
def click_log(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for i in range(4):
        centre = rng.uniform(20, 44, 2)
        for p in range(3):
            rows += [(f"img{i}", f"p{p}", *rng.normal(centre, 4, 2).round(1)) for _ in range(10)]
    path = tmp_path / "clicks.csv"
    pd.DataFrame(rows, columns=["image_id", "participant_id", "x", "y"]).to_csv(path, index=False)
    return path


def test_maps_writes_archive_stats_and_bbox(tmp_path, click_log, capsys):
    (tmp_path / "labels.csv").write_text("image_id,label\nimg0,dog\n")
    code = main(
        [
            "maps",
            str(click_log),
            "--size",
            "64",
            "--blur-size",
            "9",
            "--out",
            str(tmp_path / "m.npz"),
            "--labels",
            str(tmp_path / "labels.csv"),
            "--bbox-out",
            str(tmp_path / "bbox.npz"),
            "--stats",
            str(tmp_path / "stats.csv"),
        ]
    )
    assert code == 0
    assert "4 maps from 3 participants and 120 clicks" in capsys.readouterr().out
    with MapArchive(tmp_path / "m.npz") as maps, MapArchive(tmp_path / "bbox.npz") as boxes:
        assert maps.image_ids == ["img0", "img1", "img2", "img3"] and maps["img0"].shape == (64, 64)
        assert maps.label("img0") == "dog" and maps.participant_count("img2") == 3
        assert set(np.unique(boxes["img1"])) == {0.0, 1.0}
    assert pd.read_csv(tmp_path / "stats.csv")["n_clicks"].tolist() == [30, 30, 30, 30]


def test_bad_row_exits_2_with_located_message(tmp_path, capsys):
    log = tmp_path / "bad.csv"
    log.write_text("image_id,participant_id,x,y\na,p,1,2\na,p,oops,2\n")
    assert main(["maps", str(log), "--out", str(tmp_path / "m.npz")]) == 2
    err = capsys.readouterr().err
    assert f"clickme maps: error: {log}, line 3, field 'x': expected a finite number, got 'oops'" in err
    assert not (tmp_path / "m.npz").exists()
    assert main(["maps", str(log), "--on-error", "skip", "--out", str(tmp_path / "m.npz")]) == 0
    captured = capsys.readouterr()
    assert "skipped 1 malformed row(s)" in captured.err and "1 row(s) skipped" in captured.out


def test_reliability_writes_csv_and_json(tmp_path, click_log):
    out = tmp_path / "rel"
    assert (
        main(
            [
                "reliability",
                str(click_log),
                "--size",
                "64",
                "--blur-size",
                "9",
                "--n-images",
                "0",
                "--split-half",
                "0",
                "--n-boot",
                "50",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    per_image = pd.read_csv(out / "reliability_per_image.csv", keep_default_na=False)  # "null" is a label
    assert per_image.groupby("distribution").size().to_dict() == {"human": 4, "null": 4}
    summary = json.loads((out / "reliability_summary.json").read_text())
    assert summary["human"]["mean"] == pytest.approx(per_image.query("distribution == 'human'")["rho"].mean())
    assert summary["fraction_of_ceiling"] == pytest.approx(summary["human"]["mean"] / 0.58)
    assert summary["maps"]["blur_size"] == 9


def test_fraction_of_ceiling_names_the_paper_s_ceiling(tmp_path, click_log, capsys):
    """Issue 21: ``fraction_of_ceiling`` 1.0067 came with no word that 0.58 is the paper's ceiling."""
    argv = ["reliability", str(click_log), "--size", "32", "--blur-size", "5", "--n-images", "0", "--n-boot", "20"]
    assert main(argv + ["--out", str(tmp_path / "a")]) == 0
    summary = json.loads((tmp_path / "a" / "reliability_summary.json").read_text())
    assert summary["ceiling"] == 0.58 and "PAPER_CEILING = 0.58" in summary["ceiling_source"]
    assert "Linsley et al., 2019" in summary["ceiling_source"]
    assert main(argv + ["--ceiling", "0.5", "--out", str(tmp_path / "b")]) == 0
    assert "ceiling_source" in capsys.readouterr().out
    summary = json.loads((tmp_path / "b" / "reliability_summary.json").read_text())
    assert summary["ceiling_source"] == "given: 0.5 (--ceiling)"


def test_metrics_scores_two_archives(tmp_path):
    rng = np.random.default_rng(0)
    human = {f"i{k}": rng.random((16, 16)) for k in range(3)}
    save_maps(tmp_path / "human.npz", human)
    save_maps(tmp_path / "pred.npz", {k: v * 2 for k, v in human.items()})
    assert (
        main(
            [
                "metrics",
                "--pred",
                str(tmp_path / "pred.npz"),
                "--human",
                str(tmp_path / "human.npz"),
                "--metric",
                "cc",
                "--metric",
                "spearman",
                "--out",
                str(tmp_path / "m.csv"),
            ]
        )
        == 0
    )
    table = pd.read_csv(tmp_path / "m.csv")
    assert set(table["metric"]) == {"cc", "spearman"} and np.allclose(table["value"], 1)


def test_missing_archive_is_a_clean_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:  # argparse's own exit 2, naming the option
        main(
            [
                "metrics",
                "--pred",
                str(tmp_path / "a.npz"),
                "--human",
                str(tmp_path / "b.npz"),
                "--out",
                str(tmp_path / "m.csv"),
            ]
        )
    assert stop.value.code == 2 and "argument --pred: expected an existing file" in capsys.readouterr().err
