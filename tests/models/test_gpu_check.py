"""scripts/gpu_check.sh runs end to end in its reduced mode (so the GPU script cannot rot)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_gpu_check_script_starts_and_lists_its_options(tmp_path):
    """Fast smoke of the script and its module (the whole reduced run is the slow test below)."""
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "gpu_check.sh"), "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHON": sys.executable},
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "--reduced" in done.stdout and "--json" in done.stdout


@pytest.mark.slow  # ~30 s quiet, 3 min on a loaded machine; the smoke above stays in `make test`
def test_gpu_check_reduced_mode_runs_on_cpu(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "gpu_check.sh"), "--reduced", "--json", str(tmp_path / "figures.json")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    figures = json.loads((tmp_path / "figures.json").read_text())
    for key in (
        "resnet50",
        "se_resnet50",
        "gala_resnet50",
        "gala_resnet50_authors",
        "resnet50_shards",
        "gala_resnet50_shards",
        "harmonized_resnet50",
        "harmonized_vit_b16",
    ):
        assert figures[key]["images_per_s"] > 0, key
    assert 0 <= figures["gala_resnet50_shards"]["data_wait"] <= 1
    assert figures["gala_over_resnet50"] > 0
    assert figures["supervised_run"]["falls"] and figures["supervised_run"]["steps"] == 30
    assert "GALA / ResNet-50 step time" in done.stdout and "REDUCED MODE" in done.stdout
