"""``clickme train / score / explain`` end to end on tiny synthetic data."""

import pandas as pd
import pytest

from clickme_app.cli import main

CONFIG = """
[model]
arch = "tiny_gala_resnet"
num_classes = 3
tiny_width = 4
[data]
train = "synthetic"
val = "synthetic"
synthetic_train = 16
synthetic_val = 8
image_size = 30
resize = 30
blur_size = 3
batch_size = 8
workers = 0
[loss]
lambda = 6
[optim]
epochs = 1
milestones = []
[run]
progress = false
"""


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(CONFIG + f'out = "{tmp_path / "run"}"\n')
    return path


def test_train_without_validation_says_so(config, capsys):
    """Issue 21: ``val = ""`` printed "best val accuracy -1.0000"."""
    assert main(["train", "--config", str(config), "--set", "val=", "--set", "epochs=1"]) == 0
    out = capsys.readouterr().out
    assert "-1.0000" not in out and 'no validation set (val = "")' in out


def test_train_score_explain(config, tmp_path, capsys):
    assert main(["train", "--config", str(config), "--set", "epochs=2", "--seed", "1"]) == 0
    assert "finished: 2 epochs" in capsys.readouterr().out
    assert main(["train", "--config", str(config), "--set", "epochs=3", "--resume"]) == 0
    epochs = pd.read_csv(tmp_path / "run" / "epochs.csv")
    assert epochs["epoch"].max() == 3 and len(epochs) == 6
    best, last = tmp_path / "run" / "best.pt", tmp_path / "run" / "last.pt"
    assert (
        main(
            [
                "score",
                "--checkpoint",
                str(best),
                "--checkpoint",
                str(last),
                "--data",
                "synthetic",
                "--permutations",
                "20",
                "--out",
                str(tmp_path / "scores.csv"),
                "--per-image",
                str(tmp_path / "rows.csv"),
            ]
        )
        == 0
    )
    scores = pd.read_csv(tmp_path / "scores.csv")
    assert scores["model"].tolist() == [str(best), str(last)]
    assert {"top1_accuracy", "top5_accuracy", "fraction_of_human", "rho_mean", "p_value"} <= set(scores)
    assert len(pd.read_csv(tmp_path / "rows.csv")) == 16
    assert (
        main(
            [
                "explain",
                "--checkpoint",
                str(best),
                "--baseline",
                str(last),
                "--data",
                "synthetic",
                "--n-images",
                "2",
                "--samples",
                "2",
                "--out",
                str(tmp_path / "explain"),
            ]
        )
        == 0
    )
    assert {p.name for p in (tmp_path / "explain").iterdir()} == {
        "smoothgrad.png",
        "gradient_delta.png",
        "attention.png",
    }


def test_sweep(config, tmp_path):
    assert main(["train", "--config", str(config), "--sweep", "lambda=0,3"]) == 0
    assert pd.read_csv(tmp_path / "run" / "sweep.csv")["lambda"].tolist() == [0.0, 3.0]


def test_bad_input_exits_2(tmp_path, config, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[optim]\nepoch = 3\n")
    assert main(["train", "--config", str(bad)]) == 2
    assert "unknown setting" in capsys.readouterr().err
    assert main(["train", "--config", str(config), "--sweep", "lambda"]) == 2
    assert (
        main(
            [
                "score",
                "--checkpoint",
                str(tmp_path / "none.pt"),
                "--data",
                "synthetic",
                "--out",
                str(tmp_path / "s.csv"),
            ]
        )
        == 2
    )
    (tmp_path / "junk.pt").write_bytes(b"junk")
    assert (
        main(
            ["explain", "--checkpoint", str(tmp_path / "junk.pt"), "--data", "synthetic", "--out", str(tmp_path / "e")]
        )
        == 2
    )
    assert (
        "expected a torch checkpoint (a file written by torch.save), got one starting b'junk'"
        in capsys.readouterr().err
    )
