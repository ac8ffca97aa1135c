"""Scoring: alignment against scipy, permutation p-values, summary table."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from clickme_analysis.errors import InputError
from models.networks import build_network
from models.score import map_alignment, map_permutation_test, score_model, summarize
from models.synthetic import synthetic_samples


def test_alignment_equals_scipy_with_ties():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 4, (5, 6, 6)).astype(float)  # many ties
    b = rng.random((5, 6, 6))
    expected = [spearmanr(x.ravel(), y.ravel())[0] for x, y in zip(a, b)]
    assert np.allclose(map_alignment(a, b), expected)


def test_permutation_test_separates_aligned_from_random():
    rng = np.random.default_rng(1)
    human = rng.random((30, 8, 8))
    p_aligned, floor = map_permutation_test(human + 0.1 * rng.random((30, 8, 8)), human, 99, seed=0)
    assert p_aligned == pytest.approx(0.01) and abs(floor) < 0.1
    p_random, _ = map_permutation_test(rng.random((30, 8, 8)), human, 99, seed=0)
    assert p_random > 0.05


def test_summarize_hand_case():
    frame = pd.DataFrame(
        {
            "index": [0, 1, 2, 3],
            "label": [0, 1, 1, -1],
            "top1_correct": [True, False, True, False],
            "top5_correct": [True, True, True, False],
            "cross_entropy": [0.1, 2, 0.3, np.nan],
            "distance": [1, 1, np.nan, 1],
            "has_map": [True, True, False, True],
        }
    )
    human = np.random.default_rng(0).random((4, 4, 4))
    model = human.copy()
    model[1] = -human[1]  # rho -1
    per_image, summary = summarize(frame, model, human, model="m", ceiling=0.5, n_permutations=10)
    row = summary.iloc[0]
    assert row["top1_accuracy"] == pytest.approx(2 / 3) and row["top5_accuracy"] == pytest.approx(1)
    assert per_image["rho"].tolist()[:2] == pytest.approx([1, -1]) and np.isnan(per_image["rho"][2])
    assert row["rho_mean"] == pytest.approx(1 / 3) and row["fraction_of_human"] == pytest.approx(2 / 3)
    assert (row["n_images"], row["n_labelled"], row["n_maps"]) == (4, 3, 3)
    with pytest.raises(InputError, match="ceiling"):
        summarize(frame, model, human, ceiling=0)


def test_score_model_columns():
    from models.data import PairedDataset

    dataset = PairedDataset(synthetic_samples(6, image_size=30, n_classes=3), image_size=30, resize=30, blur_size=3)
    model = build_network("tiny_gala_resnet", num_classes=3, tiny_width=4)
    per_image, summary = score_model(model, dataset, "tiny", batch_size=4, n_permutations=10)
    assert list(summary.columns)[:6] == [
        "model",
        "top1_accuracy",
        "top5_accuracy",
        "fraction_of_human",
        "rho_mean",
        "p_value",
    ]
    assert len(per_image) == 6 and per_image["rho"].between(-1, 1).all()
    assert summary["top5_accuracy"].iloc[0] == 1  # 3 classes: top-5 holds them all
    _, other = score_model(model, dataset, "tiny", layer="layer2.0", batch_size=4, n_permutations=10)
    assert other["rho_mean"].iloc[0] != summary["rho_mean"].iloc[0]


def test_alignment_bad_shapes():
    with pytest.raises(InputError, match="one shape"):
        map_alignment(np.zeros((2, 3, 3)), np.zeros((2, 4, 4)))


def test_no_human_map_is_an_error_not_nan():
    frame = pd.DataFrame(
        {
            "index": [0, 1],
            "label": [0, 1],
            "top1_correct": [True, False],
            "top5_correct": [True, True],
            "cross_entropy": [0.1, 2.0],
            "distance": [np.nan, np.nan],
            "has_map": [False, False],
        }
    )
    maps = np.zeros((2, 4, 4))
    with pytest.raises(InputError, match="none of the 2 images has a human map"):
        summarize(frame, maps, maps, model="m")


def test_label_outside_the_checkpoint_classes_is_located():
    from models.data import PairedDataset

    samples = synthetic_samples(4, image_size=30, n_classes=3)
    samples[2].label = 7
    dataset = PairedDataset(samples, image_size=30, resize=30, blur_size=3)
    model = build_network("tiny_gala_resnet", num_classes=3, tiny_width=4)
    with pytest.raises(
        InputError,
        match=rf"label 7 of image '{samples[2].image_id}' is outside the "
        r"checkpoint's 3 classes \(0-2\)",
    ):
        score_model(model, dataset, batch_size=4, n_permutations=2)


def test_score_cli_maps_without_matching_ids_exit_2(tiny_config, tmp_path, capsys):
    from clickme_analysis.archive import save_maps
    from clickme_app.cli import main
    from models.train import train

    train(tiny_config)
    folder = tmp_path / "images"
    (folder / "a").mkdir(parents=True)
    from PIL import Image

    Image.fromarray(np.zeros((30, 30, 3), np.uint8)).save(folder / "a" / "cat.png")
    save_maps(tmp_path / "maps.npz", {"val/cat.JPEG": np.ones((30, 30))})
    code = main(
        [
            "score",
            "--checkpoint",
            f"{tiny_config.out}/best.pt",
            "--data",
            str(folder),
            "--maps",
            str(tmp_path / "maps.npz"),
            "--permutations",
            "2",
            "--out",
            str(tmp_path / "s.csv"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "none of 1 maps ids matches" in err and "stem" in err


def test_score_cli_label_column_and_missing_labels_exit_2(tiny_config, tmp_path, capsys):
    """Issue 21: a manifest whose classes are in ``category`` gave NaN accuracy without a word."""
    from PIL import Image

    from clickme_app.cli import main
    from models.train import train

    train(tiny_config)
    (tmp_path / "images").mkdir()
    for name in ("a", "b"):
        Image.fromarray(np.full((30, 30, 3), 40, np.uint8)).save(tmp_path / "images" / f"{name}.png")
    pd.DataFrame({"image_id": ["a", "b"], "category": ["0", "1"]}).to_csv(tmp_path / "m.csv", index=False)
    from clickme_analysis.archive import save_maps

    save_maps(tmp_path / "maps.npz", {"a": np.eye(30), "b": np.ones((30, 30))})
    argv = [
        "score",
        "--checkpoint",
        f"{tiny_config.out}/best.pt",
        "--data",
        str(tmp_path / "m.csv"),
        "--maps",
        str(tmp_path / "maps.npz"),
        "--permutations",
        "2",
        "--out",
        str(tmp_path / "s.csv"),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "m.csv" in err and "column 'label'" in err and "--label-column" in err
    assert not (tmp_path / "s.csv").exists()
    assert main(argv + ["--label-column", "category"]) == 0
    summary = pd.read_csv(tmp_path / "s.csv")
    assert np.isfinite(summary["top1_accuracy"]).all()


def test_score_and_alignment_share_one_vocabulary():
    """Issue 21 step 5: ``clickme score`` and ``clickme alignment`` name the same quantities alike
    (they were ``top1_err``/``fraction_human`` against ``top1_accuracy``/``alignment``)."""
    from models.alignment_scoring import summarize_alignment
    from models.score import SCORE_COLUMNS

    frame = pd.DataFrame(
        {
            "index": [0, 1],
            "label": [0, -1],
            "top1_correct": [True, False],
            "top5_correct": [True, False],
            "cross_entropy": [0.1, np.nan],
            "distance": [1.0, 1.0],
            "has_map": [True, True],
        }
    )
    maps = np.random.default_rng(0).random((2, 4, 4))
    _, score = summarize(frame, maps, maps, ceiling=0.5, n_permutations=5)
    rows = frame.assign(model="model", method="saliency", image_id=["a", "b"], rho=1.0)
    alignment = summarize_alignment(rows, {"ceiling": 0.5, "null": 0.1, "source": "t"}, n_boot=10)
    assert set(SCORE_COLUMNS) <= set(score.columns) & set(alignment.columns)
    for column in ("top1_accuracy", "top5_accuracy", "fraction_of_human", "rho_mean", "n_labelled"):
        assert score[column].iloc[0] == pytest.approx(alignment[column].iloc[0]), column
    old = {"top1_err", "top5_err", "fraction_human", "alignment", "null_floor", "null_alignment"}
    assert not old & (set(score.columns) | set(alignment.columns))
