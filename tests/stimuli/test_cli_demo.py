"""``clickme stimuli build`` and the demo stage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from clickme_analysis.archive import save_maps
from clickme_analysis.errors import InputError
from clickme_app.cli import main
from stimuli.demo import run_demo


def write_clickme_stage(root, size=256):
    """A tiny stand-in for ROOT/clickme: two images, labels, two map archives."""
    out = root / "clickme"
    (out / "images").mkdir(parents=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    clickme, saliency = {}, {}
    for image_id, centre in [("cat", (60, 180)), ("mug", (150, 90))]:
        Image.fromarray((rng.random((size, size, 3)) * 255).astype(np.uint8)).save(out / "images" / f"{image_id}.png")
        cy, cx = centre[0] * size / 256, centre[1] * size / 256
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * (size / 10) ** 2))
        clickme[image_id] = np.where(blob > 0.1, blob, 0)
        saliency[image_id] = rng.random((size, size))
    save_maps(out / "maps.npz", clickme)
    save_maps(out / "saliency_maps.npz", saliency)
    (out / "labels.csv").write_text("image_id,label,category\ncat,tabby,animal\nmug,cup,non-animal\n")
    return out


def test_cli_build(tmp_path, capsys):
    src = write_clickme_stage(tmp_path, size=24)
    code = main(
        [
            "stimuli",
            "build",
            "--images",
            str(src / "images"),
            "--maps",
            str(src / "maps.npz"),
            "--maps-b",
            str(src / "saliency_maps.npz"),
            "--labels",
            str(src / "labels.csv"),
            "--levels",
            "3",
            "--size",
            "24",
            "--out",
            str(tmp_path / "out"),
            "--seed",
            "1",
            "--no-progress",
        ]
    )
    assert code == 0
    assert "14 stimuli for 2 images" in capsys.readouterr().out
    manifest = pd.read_csv(tmp_path / "out" / "manifest.csv")
    assert set(manifest["map_source"]) == {"clickme", "saliency", "intact"}
    assert (tmp_path / "out" / "assignment.csv").is_file()


def test_cli_bad_input_exits_2_naming_the_file(tmp_path, capsys):
    src = write_clickme_stage(tmp_path, size=24)
    (src / "images" / "mug.png").unlink()
    code = main(
        [
            "stimuli",
            "build",
            "--images",
            str(src / "images"),
            "--maps",
            str(src / "maps.npz"),
            "--size",
            "24",
            "--out",
            str(tmp_path / "out"),
            "--no-progress",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "mug.png" in err and "missing image" in err and "Traceback" not in err
    code = main(
        [
            "stimuli",
            "build",
            "--images",
            str(src / "images"),
            "--maps",
            str(src / "maps.npz"),
            "--maps-b",
            str(src / "maps.npz"),
            "--name-b",
            "clickme",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert code == 2 and "two different map source names" in capsys.readouterr().err


def test_cli_config_file_and_options(tmp_path, capsys):
    src = write_clickme_stage(tmp_path, size=24)
    config = tmp_path / "stimuli.toml"
    config.write_text("[stimuli]\nn_levels = 4\nsize = 24\nseed = 3\n")
    base = [
        "stimuli",
        "build",
        "--images",
        str(src / "images"),
        "--maps",
        str(src / "maps.npz"),
        "--out",
        str(tmp_path / "out"),
        "--no-progress",
        "--config",
        str(config),
    ]
    assert main(base) == 0
    assert "10 stimuli for 2 images (clickme; 4 levels + intact)" in capsys.readouterr().out
    assert main(base + ["--levels", "2"]) == 0  # an option wins over the file
    assert "6 stimuli for 2 images (clickme; 2 levels + intact)" in capsys.readouterr().out
    config.write_text('temperature = "hot"\n')
    assert main(base) == 2
    assert f"{config}, field 'temperature': expected float, got 'hot'" in capsys.readouterr().err
    config.write_text("n_levels = 1\n")
    assert main(base) == 2
    assert f"{config}, field 'n_levels': expected a value >= 2, got 1" in capsys.readouterr().err


def test_demo_stage_writes_the_documented_outputs(tmp_path):
    write_clickme_stage(tmp_path)
    run_demo(tmp_path, seed=0, progress=False)
    out = tmp_path / "stimuli"
    manifest = pd.read_csv(out / "manifest.csv")
    assert len(manifest) == 2 * (2 * 11 + 1)
    assert set(manifest["map_source"]) == {"clickme", "saliency", "intact"}
    assignment = pd.read_csv(out / "assignment.csv")
    assert assignment["participant_list"].nunique() == 12
    assert sorted(p.name for p in (out / "contact_sheets").iterdir()) == [
        "cat_clickme.png",
        "cat_saliency.png",
        "mug_clickme.png",
        "mug_saliency.png",
    ]


def test_demo_stage_needs_the_clickme_stage(tmp_path):
    with pytest.raises(InputError, match="run the clickme stage first"):
        run_demo(tmp_path, progress=False)
