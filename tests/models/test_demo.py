"""The demo stage writes ROOT/models as docs/outputs.md says (slow: trains three networks)."""

import numpy as np
import pandas as pd
import pytest

from models.demo import run_demo


@pytest.mark.slow
def test_run_demo_outputs(tmp_path):
    run_demo(tmp_path, seed=0, progress=False)
    out = tmp_path / "models"
    curves = pd.read_csv(out / "curves.csv")
    assert list(curves.columns[:6]) == ["run", "epoch", "split", "loss", "accuracy", "map_alignment"]
    assert set(curves["run"]) == {"gala", "gala_lambda1", "gala_clickme"}
    scores = pd.read_csv(out / "scores.csv")
    assert {"model", "top1_err", "top5_err", "fraction_human", "rho_mean", "p_value"} <= set(scores)
    sweep = pd.read_csv(out / "sweep.csv").set_index("lambda")
    assert list(sweep.index) == [0.0, 1.0, 6.0]
    assert sweep.loc[6.0, "fraction_human"] > sweep.loc[0.0, "fraction_human"]
    assert sweep.loc[6.0, "top1_err"] < sweep.loc[0.0, "top1_err"]
    assert {p.name for p in (out / "explain").iterdir()} == {
        "smoothgrad.png", "gradient_delta.png", "attention.png"}
    with np.load(out / "attention.npz") as arrays:
        assert arrays["gala_clickme"].shape == arrays["human_maps"].shape == (4, 30, 30)
        assert arrays["smoothgrad/gala"].shape == (4, 30, 30)
        assert arrays["images"].shape == (4, 30, 30, 3) and arrays["images"].max() <= 1
