"""Small synthetic tidy tables and arrays with the column names of docs/outputs.md."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

SIZE = 32
LEVELS = np.logspace(0, 2, 5)
IMAGE_IDS = ["cat_0", "car_1", "dog_2"]
CATEGORY = {"cat_0": "animal", "car_1": "non-animal", "dog_2": "animal"}


def _blob(cy, cx, sigma=6.0, size=SIZE):
    yy, xx = np.mgrid[:size, :size]
    return np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2)).astype(np.float32)


def make_images():
    rng = np.random.default_rng(0)
    return {i: rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8) for i in IMAGE_IDS}


def make_maps():
    return {
        "clickme": {i: _blob(8 + 6 * k, 16) for k, i in enumerate(IMAGE_IDS)},
        "saliency": {i: _blob(16, 8 + 6 * k, 10) for k, i in enumerate(IMAGE_IDS)},
    }


def make_accuracy():
    """As clickme_analysis.psychophysics.descriptives.accuracy_by_level: revealed levels + the intact image."""
    rows = [
        {"group": g, "level": lv, "intact": False, "accuracy": 0.5 + s * k / 10, "sem": 0.02, "n_participants": 8}
        for g, s in (("clickme", 0.9), ("saliency", 0.5))
        for k, lv in enumerate(LEVELS)
    ]
    rows += [
        {"group": g, "level": 100.0, "intact": True, "accuracy": a, "sem": 0.01, "n_participants": 8}
        for g, a in (("clickme", 0.95), ("saliency", 0.9))
    ]
    return pd.DataFrame(rows)


def make_psychometric():
    dense = np.logspace(0, 2, 20)
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "group": g,
                    "level": dense,
                    "predicted": 0.5 + a * np.log10(dense) / 5,
                    "ci_low": 0.45 + a * np.log10(dense) / 5,
                    "ci_high": 0.55 + a * np.log10(dense) / 5,
                }
            )
            for g, a in (("clickme", 0.9), ("saliency", 0.5))
        ],
        ignore_index=True,
    )


def make_level_tests():
    p = np.array([0.5, 0.0004, 0.004, 0.04, 0.6, 0.03])
    return pd.DataFrame(
        {
            "level": np.r_[LEVELS, 100.0],
            "intact": [False] * 5 + [True],
            "group_a": "clickme",
            "group_b": "saliency",
            "statistic": 0.1,
            "p": p,
            "p_holm": p,
            "significant": p < 0.05,
            "p_fdr_bh": p,
            "hedges_g": 0.5,
            "g_ci_low": 0.1,
            "g_ci_high": 0.9,
            "difference_ci_low": 0.0,
            "difference_ci_high": 0.2,
            "n_permutations": 10000,
        }
    )


def make_participants():
    return pd.DataFrame(
        {"image_id": IMAGE_IDS + ["x", "y"], "n_participants": [3, 5, 5, 6, 9], "n_clicks": [30, 50, 50, 60, 90]}
    )


def make_reliability():
    return pd.DataFrame(
        {"image_id": IMAGE_IDS * 2, "rho": [0.5, 0.6, 0.7, 0.1, 0.2, 0.3], "distribution": ["human"] * 3 + ["null"] * 3}
    )


def make_sweep():
    lambdas = np.array([0, 1e-3, 1e-2, 1e-1, 1.0])
    return pd.DataFrame(
        {
            "lambda": np.repeat(lambdas, 2),
            "top1_accuracy": np.repeat([0.7, 0.71, 0.72, 0.72, 0.7], 2),
            "fraction_of_human": np.repeat([0.2, 0.4, 0.6, 0.7, 0.72], 2) + np.tile([-0.01, 0.01], 5),
            "ceiling": 0.5,
            "null": 0.1,
        }
    )


def make_curves():
    return pd.DataFrame(
        [
            {
                "run": r,
                "epoch": e,
                "split": s,
                "loss": 1.0 / (e + 1),
                "accuracy": 0.5 + e / 20,
                "map_alignment": 0.1 * e,
            }
            for r in ("gala", "gala_clickme")
            for s in ("train", "val")
            for e in range(4)
        ]
    )


def make_scores():
    return pd.DataFrame(
        {
            "model": ["ResNet-50", "GALA-ResNet-50 + ClickMe"],
            "top1_accuracy": [0.7615, 0.7788],
            "top5_accuracy": [0.9288, 0.9355],
            "fraction_of_human": [0.3012, 0.6543],
            "rho_mean": [0.2, 0.4],
            "p_value": [0.5, 0.001],
        }
    )


def write_outputs(root, images, maps, tables: dict) -> None:
    """Write a complete synthetic outputs tree (docs/outputs.md layout) under ``root``."""
    from PIL import Image

    from clickme_analysis.archive import save_maps

    clickme = root / "clickme"
    (clickme / "images").mkdir(parents=True)
    for image_id, image in images.items():
        Image.fromarray(image).save(clickme / "images" / f"{image_id}.png")
    pd.DataFrame(
        {
            "image_id": IMAGE_IDS,
            "label": [i.split("_")[0] for i in IMAGE_IDS],
            "category": [CATEGORY[i] for i in IMAGE_IDS],
        }
    ).to_csv(clickme / "labels.csv", index=False)
    save_maps(clickme / "maps.npz", maps["clickme"])
    save_maps(clickme / "saliency_maps.npz", maps["saliency"])
    tables["participants"].to_csv(clickme / "participants_per_image.csv", index=False)
    tables["reliability"].to_csv(clickme / "reliability_per_image.csv", index=False)
    summary = {
        "human": {"mean": 0.6, "ci_low": 0.5, "ci_high": 0.7, "n": 3},
        "null": {"mean": 0.2, "ci_low": 0.1, "ci_high": 0.3, "n": 3},
        "method": "pairs",
        "blur": "box49",
        "seed": 0,
    }
    (clickme / "reliability_summary.json").write_text(json.dumps(summary))
    pd.DataFrame(
        {"image_id": IMAGE_IDS * 2, "metric": ["CC"] * 3 + ["NSS"] * 3, "value": [0.1, 0.2, 0.3, 1.0, 1.5, 2.0]}
    ).to_csv(clickme / "metrics.csv", index=False)

    stimuli = root / "stimuli"
    (stimuli / "images").mkdir(parents=True)
    rows = []
    for image_id in IMAGE_IDS:
        for source in ("clickme", "saliency"):
            for level in LEVELS:
                rel = f"images/{image_id}_{source}_{level:.2f}.png"
                Image.fromarray((images[image_id] * (level / 100)).astype(np.uint8)).save(stimuli / rel)
                rows.append(
                    {
                        "image_id": image_id,
                        "category": CATEGORY[image_id],
                        "target": CATEGORY[image_id] == "animal",
                        "map_source": source,
                        "level": level,
                        "pixels_revealed": 1,
                        "seed": 0,
                        "path": rel,
                    }
                )
        rows.append(
            {
                "image_id": image_id,
                "category": CATEGORY[image_id],
                "target": CATEGORY[image_id] == "animal",
                "map_source": "intact",
                "level": 100.0,
                "pixels_revealed": SIZE * SIZE,
                "seed": 0,
                "path": f"images/{image_id}_clickme_100.00.png",
            }
        )
    pd.DataFrame(rows).to_csv(stimuli / "manifest.csv", index=False)

    experiment = root / "experiment"
    experiment.mkdir()
    tables["accuracy"].to_csv(experiment / "accuracy.csv", index=False)
    tables["psychometric"].to_csv(experiment / "psychometric.csv", index=False)
    tables["level_tests"].to_csv(experiment / "level_tests.csv", index=False)
    accuracy = tables["accuracy"]  # reaction times as clickme_analysis.psychophysics.descriptives.rt_by_level
    accuracy.assign(median_rt=0.55 - 0.1 * accuracy["accuracy"], sem=0.01)[
        ["group", "level", "intact", "median_rt", "sem", "n_participants"]
    ].to_csv(experiment / "rt.csv", index=False)
    pd.DataFrame(
        {
            "group": ["clickme", "saliency"],
            "model": "logistic",
            "threshold": [3.7, 9.0],
            "threshold_ci_low": [2.4, 4.8],
            "threshold_ci_high": [5.9, 27.1],
            "n_participants": 8,
        }
    ).to_csv(experiment / "psychometric_params.csv", index=False)

    models = root / "models"
    models.mkdir()
    tables["scores"].to_csv(models / "scores.csv", index=False)
    tables["sweep"].to_csv(models / "sweep.csv", index=False)
    tables["curves"].to_csv(models / "curves.csv", index=False)
    ids = np.array(IMAGE_IDS)
    np.savez(
        models / "attention.npz",
        image_ids=ids,
        **{
            "attention/gala": np.stack([np.eye(7)] * 3),
            "attention/gala_clickme": np.stack([maps["clickme"][i][::4, ::4] for i in IMAGE_IDS]),
            "smoothgrad/gala": np.stack([np.ones((SIZE, SIZE))] * 3),
            "smoothgrad/gala_clickme": np.stack([maps["clickme"][i] for i in IMAGE_IDS]),
        },
    )

    game = root / "game"
    game.mkdir()
    save_maps(game / "maps.npz", {i: maps["clickme"][i][::-1] for i in IMAGE_IDS[:2]})
    pd.DataFrame(
        {
            "scope": ["game", "game", "image"],
            "unit": ["all", "all", IMAGE_IDS[0]],
            "statistic": ["n_rounds", "success_rate", "n_rounds"],
            "value": [4.0, 0.75, 2.0],
        }
    ).to_csv(game / "game_statistics.csv", index=False)
    pd.DataFrame(
        {
            "n_participants": [2],
            "min_rounds": [2],
            "mean_first": [0.5],
            "mean_second": [0.75],
            "mean_difference": [0.25],
            "t": [1.0],
            "dof": [1],
            "p": [0.5],
            "ci_low": [-2.9],
            "ci_high": [3.4],
        }
    ).to_csv(game / "learning_check.csv", index=False)


TABLES = ("participants", "reliability", "accuracy", "psychometric", "level_tests", "scores", "sweep", "curves")


def _fixture(builder):
    return pytest.fixture(name=builder.__name__[len("make_") :])(lambda: builder())


images = _fixture(make_images)
maps = _fixture(make_maps)
accuracy = _fixture(make_accuracy)
psychometric = _fixture(make_psychometric)
level_tests = _fixture(make_level_tests)
participants = _fixture(make_participants)
reliability = _fixture(make_reliability)
sweep = _fixture(make_sweep)
curves = _fixture(make_curves)
scores = _fixture(make_scores)


def make_outputs_root(root):
    """A complete synthetic outputs tree under ``root`` (returned)."""
    write_outputs(root, make_images(), make_maps(), {name: globals()[f"make_{name}"]() for name in TABLES})
    return root


@pytest.fixture
def outputs_root(tmp_path):
    """A fresh, complete outputs tree (a test may break or remove parts of it)."""
    return make_outputs_root(tmp_path / "outputs")


@pytest.fixture(scope="session")
def built_report(tmp_path_factory):
    """(inputs root, report.html path) built once from the complete tree; read-only."""
    from reports.report import build_report

    base = tmp_path_factory.mktemp("built")
    root = make_outputs_root(base / "outputs")
    return root, build_report(root, base / "report")
