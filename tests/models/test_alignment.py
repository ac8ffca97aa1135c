"""``clickme alignment``: timm / TorchScript / toolkit models against human maps; psychophysics."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from scipy.stats import spearmanr

from clickme_analysis.archive import MapArchive, open_maps, save_maps
from clickme_analysis.errors import InputError
from clickme_analysis.reliability import PAPER_CEILING, PAPER_NULL, inter_rater_reliability
from clickme_app.cli import main
from models.alignment import image_files
from models.alignment_loading import LoadedModel, Preprocessing, load_timm_model, load_weights, read_state_dict
from models.alignment_scoring import (
    AlignmentOptions,
    alignment_rhos,
    human_reference,
    resolve_labels,
    score_alignment,
    summarize_alignment,
)

timm = pytest.importorskip("timm")


@pytest.fixture
def images(tmp_path):
    """Three 48x48 images with human maps (40x40) and labels (one unknown)."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "images"
    folder.mkdir()
    maps = {}
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)).save(folder / f"im{i}.png")
        maps[f"im{i}"] = rng.random((40, 40)).astype(np.float32)
    save_maps(tmp_path / "maps.npz", maps)
    (tmp_path / "labels.csv").write_text("image_id,label\nim0,1\nim1,2\nim2,\n")
    return tmp_path


def _timm_weights(tmp_path, name, **kwargs):
    torch.manual_seed(0)
    model = timm.create_model(name, pretrained=False, **kwargs)
    path = tmp_path / f"{name}.pth"
    torch.save(model.state_dict(), path)
    return path


def _run(args, capsys=None):
    return main(["alignment", "--no-progress", "--boot", "50", *args])


def test_compare_maps_is_scipy_spearman_at_score_size():
    rng = np.random.default_rng(1)
    model = rng.integers(0, 3, (4, 8, 8)).astype(np.float32)  # ties
    human = rng.random((4, 8, 8)).astype(np.float32)
    expected = [spearmanr(a.ravel(), b.ravel())[0] for a, b in zip(model, human)]
    assert np.allclose(alignment_rhos(model, human, score_size=8), expected)
    # resizing a constant-free monotone map keeps rank order on an upsampled grid
    assert alignment_rhos(human[:1] * 3 + 1, human[:1], score_size=8)[0] == pytest.approx(1)


def test_summary_alignment_is_rho_over_ceiling_with_ci():
    rows = pd.DataFrame(
        {
            "model": "m",
            "method": "saliency",
            "image_id": list("abcd"),
            "rho": [0.1, 0.2, 0.3, 0.4],
            "label": [0, 1, -1, 1],
            "top1_correct": [True, False, False, True],
            "top5_correct": [True, True, False, True],
        }
    )
    s = summarize_alignment(rows, {"ceiling": 0.5, "null": 0.1, "source": "t"}, n_boot=200).iloc[0]
    assert s["rho_mean"] == pytest.approx(0.25) and s["fraction_of_human"] == pytest.approx(0.5)
    assert s["top1_accuracy"] == pytest.approx(2 / 3) and s["top5_accuracy"] == pytest.approx(1)
    assert s["fraction_of_human_ci_low"] < 0.5 < s["fraction_of_human_ci_high"]
    assert s["fraction_of_human_ci_low"] == pytest.approx(s["rho_ci_low"] / 0.5)
    assert s["null_fraction_of_human"] == pytest.approx(0.2) and s["n_labelled"] == 3


def test_human_reference_from_clicks_and_paper():
    paper = human_reference()
    assert (paper["ceiling"], paper["null"]) == (PAPER_CEILING, PAPER_NULL)
    rng = np.random.default_rng(2)
    clicks = pd.DataFrame(
        [
            {"image_id": f"im{i}", "participant_id": f"p{p}", "x": x, "y": y}
            for i in range(4)
            for p in range(3)
            for x, y in rng.integers(0, 64, (5, 2))
        ]
    )
    ref = human_reference(clicks, [f"im{i}" for i in range(4)], seed=3)
    table = inter_rater_reliability(clicks, n_images=None, seed=3)
    assert ref["ceiling"] == pytest.approx(table.loc[table["distribution"] == "human", "rho"].mean())
    assert ref["null"] == pytest.approx(table.loc[table["distribution"] == "null", "rho"].mean())
    assert "click logs" in ref["source"]
    with pytest.raises(InputError, match="none of"):
        human_reference(clicks, ["other"])


def test_timm_cli_writes_tables_and_archives_metrics_can_score(images, tmp_path):
    weights = _timm_weights(tmp_path, "resnet18")
    out = tmp_path / "out"
    assert (
        _run(
            [
                "--timm",
                f"resnet18={weights}",
                "--images",
                str(images / "images"),
                "--maps",
                str(images / "maps.npz"),
                "--labels",
                str(images / "labels.csv"),
                "--method",
                "Saliency",
                "--method",
                "SmoothGrad",
                "--method",
                "LayerGradCam",
                "--method",
                "Occlusion",
                "--samples",
                "3",
                "--input-size",
                "32",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    rows = pd.read_csv(out / "alignment_per_image.csv")
    assert len(rows) == 12 and rows["rho"].between(-1, 1).all()
    summary = pd.read_csv(out / "alignment_summary.csv")
    assert set(summary["method"]) == {"saliency", "smoothgrad", "layer_gradcam", "occlusion"}
    assert (summary["n_labelled"] == 2).all() and (summary["ceiling"] == PAPER_CEILING).all()
    record = json.loads((out / "alignment_config.json").read_text())
    pre = record["models"][0]["preprocessing"]
    assert pre["input_size"] == [32, 32] and pre["interpolation"] == "bicubic"  # timm's config
    assert "resolve_data_config" in pre["source"]
    # importance maps at the human maps' size, readable by clickme metrics
    archive = out / "importance_maps" / "resnet18__smoothgrad.npz"
    with open_maps(archive) as maps:
        assert maps["im0"].shape == (40, 40) and maps["im0"].max() == pytest.approx(1)
    assert (
        main(
            [
                "metrics",
                "--pred",
                str(archive),
                "--human",
                str(images / "maps.npz"),
                "--metric",
                "spearman",
                "--out",
                str(tmp_path / "m.csv"),
            ]
        )
        == 0
    )
    spearman = pd.read_csv(tmp_path / "m.csv").set_index("image_id")["value"]
    assert spearman.notna().all() and len(spearman) == 3


@pytest.mark.slow
def test_gala_checkpoint_resnet50_and_vit_three_methods_each(images, tmp_path, tiny_config):
    """The issue's done-when: a toolkit GALA checkpoint, a timm ResNet-50 and a timm ViT."""
    from models.train import train

    train(tiny_config)
    r50 = _timm_weights(tmp_path, "resnet50")
    vit = _timm_weights(tmp_path, "vit_tiny_patch16_224")
    out = tmp_path / "out"
    (images / "labels.csv").write_text("image_id,label\nim0,1\nim1,2\nim2,\n")
    assert (
        _run(
            [
                "--checkpoint",
                f"gala:{tiny_config.out}/best.pt",
                "--timm",
                f"resnet50={r50}",
                "--timm",
                f"vit_tiny_patch16_224={vit}",
                "--images",
                str(images / "images"),
                "--maps",
                str(images / "maps.npz"),
                "--labels",
                str(images / "labels.csv"),
                "--samples",
                "2",
                "--steps",
                "2",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    summary = pd.read_csv(out / "alignment_summary.csv")
    methods = summary.groupby("model")["method"].apply(set).to_dict()
    assert methods == {
        "gala": {"saliency", "smoothgrad", "integrated_gradients", "gala"},
        "resnet50": {"saliency", "smoothgrad", "integrated_gradients"},
        "vit_tiny_patch16_224": {"saliency", "smoothgrad", "integrated_gradients"},
    }
    assert summary["rho_mean"].between(-1, 1).all() and summary["top1_accuracy"].between(0, 1).all()


def test_psychophysics_readout_on_a_stimulus_set(tmp_path):
    from stimuli.build import StimulusConfig, build_stimulus_set

    rng = np.random.default_rng(0)
    (tmp_path / "images").mkdir()
    maps = {}
    for i in range(4):
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(tmp_path / "images" / f"i{i}.png")
        maps[f"i{i}"] = rng.random((32, 32))
    save_maps(tmp_path / "maps.npz", maps)
    (tmp_path / "labels.csv").write_text(
        "image_id,label,category\n"
        + "".join(f"i{i},x,{c}\n" for i, c in enumerate(["animal", "animal", "non-animal", "non-animal"]))
    )
    build_stimulus_set(
        tmp_path / "images",
        {"clickme": tmp_path / "maps.npz"},
        tmp_path / "stim",
        labels=tmp_path / "labels.csv",
        config=StimulusConfig(n_levels=3, size=32),
        progress=False,
    )

    class Constant(torch.nn.Module):  # logits (2, 0): P(class 0) = e^2 / (e^2 + 1)
        def forward(self, x):
            return torch.stack([torch.full((len(x),), 2.0), torch.zeros(len(x))], 1)

    scripted = tmp_path / "constant.pt"
    torch.jit.save(torch.jit.script(Constant()), scripted)
    human = tmp_path / "human"
    human.mkdir()
    pd.DataFrame(
        {"group": ["clickme"], "threshold": [5.0], "threshold_ci_low": [3.0], "threshold_ci_high": [8.0]}
    ).to_csv(human / "psychometric_params.csv", index=False)
    out = tmp_path / "out"
    assert (
        _run(
            [
                "--torchscript",
                str(scripted),
                "--psychophysics",
                str(tmp_path / "stim"),
                "--input-size",
                "16",
                "--human",
                str(human),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    trials = pd.read_csv(out / "psychophysics_trials.csv")
    manifest = pd.read_csv(tmp_path / "stim" / "manifest.csv")
    assert len(trials) == len(manifest) and (trials["readout"] == "class:0").all()
    assert np.allclose(trials["p_animal"], np.exp(2) / (np.exp(2) + 1))
    assert (trials["correct"] == trials["target"]).all()  # always "animal"
    accuracy = pd.read_csv(out / "psychophysics_accuracy.csv")
    assert np.allclose(accuracy["accuracy"], 0.5) and (accuracy["n_images"] == 4).all()
    assert set(accuracy["group"]) == {"clickme"} and accuracy["intact"].any()
    thresholds = pd.read_csv(out / "thresholds.csv")
    assert list(thresholds["model"]) == ["human", "constant"]
    # another readout: class 1 is "animal" -> always "not animal"
    assert (
        _run(
            [
                "--torchscript",
                str(scripted),
                "--psychophysics",
                str(tmp_path / "stim"),
                "--input-size",
                "16",
                "--readout",
                "class:1",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    trials = pd.read_csv(out / "psychophysics_trials.csv")
    assert (trials["correct"] == ~trials["target"]).all()


def test_a_harmonized_model_is_scored_with_its_before_named(tmp_path, images, capsys):
    """Issue 20 item 5: ``--harmonized-from AFTER=BEFORE`` fills the summary's ``harmonized_from``
    (the report's arrows); an unknown name is a located error, exit 2."""
    weights = _timm_weights(tmp_path, "resnet18")
    args = ["--timm", f"plain:resnet18={weights}", "--timm", f"harmonized:resnet18={weights}"]
    args += ["--images", str(images / "images"), "--maps", str(images / "maps.npz"), "--method", "Saliency"]
    args += ["--input-size", "32", "--out", str(tmp_path / "o")]
    assert _run(args + ["--harmonized-from", "harmonized=plain"]) == 0
    summary = pd.read_csv(tmp_path / "o" / "alignment_summary.csv", keep_default_na=False)
    assert dict(zip(summary["model"], summary["harmonized_from"])) == {"plain": "", "harmonized": "plain"}
    record = json.loads((tmp_path / "o" / "alignment_config.json").read_text())
    assert record["harmonized_from"] == {"harmonized": "plain"}
    assert _run(args + ["--harmonized-from", "harmonized=resnet"]) == 2
    assert "no model named 'resnet'" in capsys.readouterr().err
    assert _run(args + ["--harmonized-from", "harmonized"]) == 2


def test_bad_models(tmp_path, images, capsys):
    with pytest.raises(InputError, match="close matches: resnet50"):
        load_timm_model("resnet5O", tmp_path / "x.pth")
    weights = _timm_weights(tmp_path, "resnet18")
    with pytest.raises(InputError, match=r"keys missing from the file \(first: layer1.2"):
        load_timm_model("resnet34", weights)
    bad = tmp_path / "bad.pth"
    torch.save({"fc.weight": torch.zeros(3, 512)}, bad)
    with pytest.raises(InputError, match=r"of another shape \(first: fc.weight \(file \(3, 512\)"):
        load_weights(
            timm.create_model("resnet18", pretrained=False),
            {**timm.create_model("resnet18", pretrained=False).state_dict(), "fc.weight": torch.zeros(3, 512)},
            bad,
        )
    pickled = tmp_path / "pickled.pth"
    torch.save({"w": object()}, pickled)  # not loadable without running pickle code
    with pytest.raises(InputError, match="weights_only"):
        read_state_dict(pickled)
    args = [
        "--images",
        str(images / "images"),
        "--maps",
        str(images / "maps.npz"),
        "--input-size",
        "32",
        "--out",
        str(tmp_path / "o"),
    ]
    assert _run(["--timm", f"resnet18={weights}", "--method", "LayerGradCam", "--layer", "layer9", *args]) == 2
    err = capsys.readouterr().err
    assert "no layer 'layer9'" in err and "layer4" in err
    assert _run(["--timm", f"resnet18={weights}", "--method", "Shapley", *args]) == 2
    assert "unknown importance-map method" in capsys.readouterr().err
    assert _run(["--timm", f"resnet18={weights}", "--labels", str(images / "labels.csv"), *args]) == 0
    (images / "labels.csv").write_text("image_id,label\nim0,1\nim1,1000\n")
    assert _run(["--timm", f"resnet18={weights}", "--labels", str(images / "labels.csv"), *args]) == 2
    err = capsys.readouterr().err
    assert "line 3" in err and "outside the model's classes 0-999" in err
    save_maps(tmp_path / "other.npz", {"zebra": np.ones((4, 4))})
    assert (
        _run(
            [
                "--timm",
                f"resnet18={weights}",
                "--images",
                str(images / "images"),
                "--maps",
                str(tmp_path / "other.npz"),
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    assert "none of" in capsys.readouterr().err
    assert _run(["--out", str(tmp_path / "o")]) == 2
    assert "at least one model" in capsys.readouterr().err


def test_labels_resolve_imagenet_names_and_ids():
    assert resolve_labels({"a": "n01440764", "b": "Tabby", "c": "3"}, 1000) == {"a": 0, "b": 281, "c": 3}
    with pytest.raises(InputError, match="no ImageNet class"):
        resolve_labels({"a": "unicorn"}, 1000, path="l.csv", lines={"a": 2})
    with pytest.raises(InputError, match="expected a class index"):
        resolve_labels({"a": "cat"}, 4)


def test_an_unknown_imagenet_label_gets_close_matches():
    """Issue 21: ``rocket`` got no hint; the close ImageNet names are listed (or 'no close match')."""
    with pytest.raises(InputError, match=r"l.csv, line 2, field 'label': .*'rocket'.*close matches: .*racket"):
        resolve_labels({"a": "rocket"}, 1000, path="l.csv", lines={"a": 2})
    with pytest.raises(InputError, match="close matches: tabby cat"):
        resolve_labels({"a": "tabbby cat"}, 1000)
    with pytest.raises(InputError, match="no close match"):
        resolve_labels({"a": "zzqxj"}, 1000)


def test_vit_gradcam_without_spatial_layer_is_a_located_error():
    from models.explain import importance_maps

    vit = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=32, patch_size=16).eval()
    with pytest.raises(InputError, match="LayerGradCam needs a layer"):
        importance_maps(vit, torch.zeros(1, 3, 32, 32), "layer_gradcam", target=0)


def test_bf16_autocast_maps_track_float32(images):
    """--amp bf16 (allowed for saliency-type methods) changes maps by rounding only."""
    weights_model = timm.create_model("resnet18", pretrained=False).eval()
    model = LoadedModel("r18", "timm", weights_model, Preprocessing((32, 32)), 1000, "memory")
    files = image_files(images / "images")
    with open_maps(images / "maps.npz") as maps:
        rows = {
            amp: score_alignment(
                [model],
                files,
                maps,
                options=AlignmentOptions(
                    methods=("saliency", "layer_gradcam", "integrated_gradients"),
                    amp=amp,
                    n_steps=2,
                    n_boot=10,
                    progress=False,
                ),
            )[0]
            for amp in ("none", "bf16")
        }
    assert np.allclose(rows["none"]["rho"], rows["bf16"]["rho"], atol=0.1)
    ig = rows["none"]["method"] == "integrated_gradients"  # path methods stay in float32
    assert np.array_equal(rows["none"].loc[ig, "rho"], rows["bf16"].loc[ig, "rho"])


def test_archive_maps_are_resized_with_antialiasing():
    """A model map larger than the human map is shrunk with antialiasing: a one-pixel peak
    between the sampling points of plain bilinear interpolation is kept, at its place."""
    from models.alignment_scoring import _resize_to

    saliency = np.zeros((64, 64), np.float32)
    saliency[1, 1] = 1.0  # plain bilinear 64 -> 8 samples rows/columns 3-4, 11-12, ...: misses it
    small = _resize_to(saliency, (8, 8))
    assert small.shape == (8, 8) and small[0, 0] > 0 and np.unravel_index(small.argmax(), small.shape) == (0, 0)
    reference = torch.nn.functional.interpolate(
        torch.from_numpy(saliency)[None, None], size=(8, 8), mode="bilinear", align_corners=False, antialias=True
    )
    np.testing.assert_allclose(small, reference[0, 0].numpy(), rtol=1e-6)
    assert _resize_to(np.ones((4, 4), np.float32), (16, 16)).min() == 1.0  # upsampling unchanged


def test_loading_a_model_imports_no_training_code(tmp_path):
    """``clickme alignment --checkpoint``, the game's model partner: checkpoints load through
    models.checkpoint, without the training loop or the loss."""
    import subprocess
    import sys

    code = (
        "import sys, models.alignment_loading, experiments.game.partner, models.checkpoint\n"
        "print(sorted(m for m in ('models.train', 'models.loss', 'models.score') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_empty_maps_are_skipped_and_other_aspect_ratios_refused(images, tmp_path, capsys):
    """Issue 21 step 7: an all-zero human map is skipped and listed (it was scored with an empty
    rho); a map of another aspect ratio than its image is refused (it was stretched)."""
    weights = _timm_weights(tmp_path, "resnet18")
    with MapArchive(images / "maps.npz") as archive:
        maps = {k: archive[k] for k in archive}
    maps["im1"] = np.zeros((40, 40), np.float32)
    save_maps(tmp_path / "some_empty.npz", maps)
    args = [
        "--timm",
        f"resnet18={weights}",
        "--images",
        str(images / "images"),
        "--method",
        "Saliency",
        "--input-size",
        "32",
    ]
    assert _run(args + ["--maps", str(tmp_path / "some_empty.npz"), "--out", str(tmp_path / "a")]) == 0
    assert "1 image(s) without clicks (an all-zero map) skipped by alignment: im1" in capsys.readouterr().err
    rows = pd.read_csv(tmp_path / "a" / "alignment_per_image.csv")
    assert sorted(rows["image_id"]) == ["im0", "im2"] and rows["rho"].notna().all()
    save_maps(tmp_path / "wide.npz", {k: np.ones((40, 60), np.float32) for k in maps})  # images are 48x48
    assert _run(args + ["--maps", str(tmp_path / "wide.npz"), "--out", str(tmp_path / "b")]) == 2
    assert "aspect ratio 48:48" in capsys.readouterr().err
