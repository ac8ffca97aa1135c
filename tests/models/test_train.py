"""Training: checkpoints, resume after SIGTERM, AMP + channels_last, DDP, sweep, and the proof
that map supervision helps on the synthetic task."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from models.checkpoint import load_checkpoint, model_from_checkpoint
from models.config import TrainConfig
from models.data import datasets_from_config
from models.train import build_optimizer, learning_rate, sweep, train


def test_train_writes_checkpoints_and_logs(tiny_config):
    result = train(tiny_config)
    out = Path(tiny_config.out)
    assert result["status"] == "finished" and result["epoch"] == 2
    assert {p.name for p in out.iterdir()} >= {"last.pt", "best.pt", "steps.csv", "epochs.csv"}
    assert not list(out.glob("*.tmp"))
    epochs = pd.read_csv(out / "epochs.csv")
    assert list(epochs["split"]) == ["train", "val", "train", "val"]
    assert epochs["map_alignment"].notna().sum() == 2
    steps = pd.read_csv(out / "steps.csv")
    assert len(steps) == 8
    assert steps["lr"].tolist() == pytest.approx([0.2 * 8 / 256] * 4 + [0.02 * 8 / 256] * 4)
    state = load_checkpoint(out / "last.pt")
    assert (state["epoch"], state["batch"], state["step"]) == (2, 0, 8)
    best = load_checkpoint(out / "best.pt")
    assert best["best"] == pytest.approx(epochs.query("split == 'val'")["accuracy"].max())
    model, config = model_from_checkpoint(out / "best.pt")
    assert config == tiny_config and not model.training


@pytest.mark.parametrize("stop_at", [3, 4])  # mid-epoch, and the epoch's last step
def test_resume_after_sigterm_gives_the_same_weights(tiny_config, tmp_path, stop_at):
    straight = train(tiny_config.replace(out=str(tmp_path / "straight")))

    def interrupt(step):
        if step == stop_at:
            os.kill(os.getpid(), signal.SIGTERM)

    broken = tiny_config.replace(out=str(tmp_path / "broken"))
    assert train(broken, on_step=interrupt)["status"] == "interrupted"
    state = load_checkpoint(tmp_path / "broken" / "last.pt")
    assert (state["epoch"], state["batch"], state["step"]) == (0, stop_at, stop_at)
    assert train(broken, resume=True)["status"] == "finished"
    a = load_checkpoint(Path(straight["out"]) / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "broken" / "last.pt")["model"]
    for key in a:
        assert torch.allclose(a[key].float(), b[key].float(), atol=1e-6), key
    assert len(pd.read_csv(tmp_path / "broken" / "steps.csv")) == 8  # no step logged twice


def test_bf16_autocast_and_channels_last_on_cpu(tiny_config):
    result = train(tiny_config.replace(amp="bf16", channels_last=True, epochs=1, val=""))
    epochs = pd.read_csv(Path(result["out"]) / "epochs.csv")
    assert epochs["loss"].notna().all() and (epochs["loss"] < 100).all()


def test_learning_rate_schedule_and_warmup():
    config = TrainConfig(lr=0.1, batch_size=256, milestones=[30, 60, 80, 90], warmup_epochs=5)
    assert learning_rate(config, 0) == 0
    assert learning_rate(config, 2.5) == pytest.approx(0.05)
    assert learning_rate(config, 29.9) == pytest.approx(0.1)
    assert learning_rate(config, 85) == pytest.approx(1e-4)
    assert learning_rate(config.replace(batch_size=128), 10, world=4) == pytest.approx(0.2)


def test_no_weight_decay_on_gala_scalars():
    from models.networks import build_network

    model = build_network("tiny_gala_resnet", num_classes=2)
    optimizer = build_optimizer(model, TrainConfig())
    decay, no_decay = optimizer.param_groups
    gala = model.layer3[0].se
    assert decay["weight_decay"] == 1e-4 and no_decay["weight_decay"] == 0
    assert {id(p) for p in no_decay["params"]} == {id(gala.a), id(gala.m)}
    assert optimizer.defaults["nesterov"] and optimizer.defaults["momentum"] == 0.9


def test_sweep_writes_one_row_per_lambda(tiny_config):
    table = sweep(tiny_config.replace(epochs=1), "lam", [0.0, 2.0], n_permutations=20)
    assert table["lambda"].tolist() == [0.0, 2.0]
    written = pd.read_csv(Path(tiny_config.out) / "sweep.csv")
    assert {"lambda", "top1_accuracy", "fraction_of_human", "ceiling", "null"} <= set(written)
    assert (Path(tiny_config.out) / "lam=2" / "best.pt").is_file()  # the README names lam=6


def test_torchrun_ddp_gloo_two_processes(tiny_config, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(
        'arch = "tiny_gala_resnet"\nnum_classes = 3\ntiny_width = 4\ntrain = "synthetic"\n'
        "synthetic_train = 32\nimage_size = 30\nresize = 30\nblur_size = 3\nbatch_size = 8\n"
        f'workers = 0\nepochs = 1\nlog_every = 1\nprogress = false\nout = "{tmp_path / "ddp"}"\n'
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            "-m",
            "clickme_app",
            "train",
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    steps = pd.read_csv(tmp_path / "ddp" / "steps.csv")
    assert len(steps) == 2  # 32 images / (2 processes x 8) per step
    assert steps["lr"].iloc[0] == pytest.approx(0.1 * 16 / 256)
    assert load_checkpoint(tmp_path / "ddp" / "last.pt")["step"] == 2


def test_init_weights_load_non_strictly(tiny_config, tmp_path):
    from models.networks import build_network

    plain = build_network("tiny_resnet", num_classes=3, tiny_width=4)
    torch.nn.init.constant_(plain.fc.bias, 0.25)
    torch.save(plain.state_dict(), tmp_path / "plain.pt")  # no GALA keys: loaded non-strictly
    with pytest.warns(UserWarning, match=r"10 model tensors not in the file \(layer3\.0\.se\.a"):
        result = train(
            tiny_config.replace(init_weights=str(tmp_path / "plain.pt"), epochs=1, lr=0.0, val="", weight_decay=0.0)
        )
    model, _ = model_from_checkpoint(Path(result["out"]) / "best.pt")
    assert torch.allclose(model.fc.bias, torch.full((3,), 0.25))
    from clickme_analysis.errors import InputError

    with pytest.raises(InputError, match="weights file not found"):
        train(tiny_config.replace(init_weights=str(tmp_path / "none.pt")))


def test_training_needs_labels_within_num_classes(tiny_config):
    from clickme_analysis.errors import InputError

    with pytest.raises(InputError, match="class label"):
        train(tiny_config.replace(num_classes=2), datasets_from_config(tiny_config))  # 3 classes


@pytest.mark.parametrize(
    "changes",
    [
        {"arch": "tiny_resnet"},  # "ResNet-50 w/ ClickMe": loss on plain activity
        {"arch": "tiny_se_resnet"},
        {
            "gala_variant": "authors",
            "reduction": "mean_square",
            "normalization": "sqrt_sum",
            "distance": "half_sum_squares",
            "combine": "mean",
            "lam": 1e-5,
        },
        {"map_source": "bbox", "interpolation": "bilinear"},
    ],
)
def test_controls_and_variants_train(tiny_config, changes):
    result = train(tiny_config.replace(epochs=1, val="", **changes))
    steps = pd.read_csv(Path(result["out"]) / "steps.csv")
    assert steps["attention"].gt(0).all() and steps["loss"].notna().all()


def test_resume_on_shards_gives_the_same_weights(tiny_config, tmp_path, packed):
    config = tiny_config.replace(train=str(packed), val=str(packed), workers=2, shuffle_buffer=6)
    straight = train(config.replace(out=str(tmp_path / "straight")))

    def interrupt(step):
        if step == 3:
            os.kill(os.getpid(), signal.SIGTERM)

    broken = config.replace(out=str(tmp_path / "broken"))
    assert train(broken, on_step=interrupt)["status"] == "interrupted"
    assert train(broken, resume=True)["status"] == "finished"
    a = load_checkpoint(Path(straight["out"]) / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "broken" / "last.pt")["model"]
    for key in a:
        assert torch.equal(a[key], b[key]), key
    epochs = pd.read_csv(tmp_path / "broken" / "epochs.csv")
    assert list(epochs["split"]) == ["train", "val", "train", "val"]
    assert epochs.query("split == 'val'")["map_alignment"].notna().all()


def test_a_crafted_pickle_in_a_checkpoint_is_refused_and_never_runs(tmp_path):
    from clickme_analysis.errors import InputError

    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    torch.save({"format": "clickme-models-checkpoint/1", "model": {}, "x": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(InputError, match="refused") as err:
        model_from_checkpoint(tmp_path / "evil.pt")
    assert "evil.pt" in str(err.value)
    assert not marker.exists()  # the payload did not run


def test_a_file_that_is_not_a_checkpoint_says_what_it_looks_like(tmp_path):
    from clickme_analysis.errors import InputError

    path = tmp_path / "clicks.csv"
    path.write_text("image_id,participant_id,x,y\n")
    with pytest.raises(InputError, match=r"expected a torch checkpoint .*got one starting b'image_id"):
        model_from_checkpoint(path)
    path.write_bytes(b"PK\x03\x04 truncated zip")
    with pytest.raises(InputError, match="cannot read checkpoint"):
        model_from_checkpoint(path)


def test_gpu_only_options_on_a_cpu_machine_are_refused_clearly(monkeypatch):
    from clickme_analysis.errors import InputError
    from models.distributed import check_device_options

    with pytest.raises(InputError, match="no CUDA GPU"):
        check_device_options(TrainConfig(device="cuda"), cuda_available=False)
    with pytest.raises(InputError, match="fp16.*needs a CUDA GPU.*bf16"):
        check_device_options(TrainConfig(amp="fp16"), cuda_available=False)
    check_device_options(TrainConfig(amp="fp16", device="auto"), cuda_available=True)
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(InputError, match="C\\+\\+ compiler"):
        check_device_options(TrainConfig(compile=True), cuda_available=False)


@pytest.mark.parametrize(
    "line, field, expected",
    [
        ('[model]\narch = "gala_resnet18"\n', "model.arch", "one of"),
        ("[optim]\nlr = -0.1\n", "optim.lr", ">= 0"),
        ("batch_size = 0\n", "batch_size", ">= 1"),
        ('[run]\namp = "fp8"\n', "run.amp", "one of"),
    ],
)
def test_bad_settings_are_located(tmp_path, line, field, expected):
    from clickme_analysis.errors import InputError
    from models.config import load_train_config

    (tmp_path / "c.toml").write_text(line)
    with pytest.raises(InputError, match=expected) as err:
        load_train_config(tmp_path / "c.toml")
    assert err.value.field == field and err.value.path.endswith("c.toml")


@pytest.mark.slow  # test_torchrun_ddp_gloo_two_processes and the disjoint-shards test stay in `make test`
def test_torchrun_ddp_on_shards(tmp_path, packed):
    config = tmp_path / "c.toml"
    config.write_text(
        f'arch = "tiny_gala_resnet"\nnum_classes = 3\ntiny_width = 4\ntrain = "{packed}"\n'
        f'val = "{packed}"\nimage_size = 28\nresize = 30\nblur_size = 3\nbatch_size = 4\n'
        f'workers = 2\nepochs = 1\nlog_every = 1\nprogress = false\nout = "{tmp_path / "ddp"}"\n'
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            "-m",
            "clickme_app",
            "train",
            "--config",
            str(config),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(pd.read_csv(tmp_path / "ddp" / "steps.csv")) == 4  # 32 images / (2 x 4) per step
    epochs = pd.read_csv(tmp_path / "ddp" / "epochs.csv")
    assert list(epochs["split"]) == ["train", "val"]
