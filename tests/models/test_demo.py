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
    assert {"model", "top1_accuracy", "top5_accuracy", "fraction_of_human", "rho_mean", "p_value"} <= set(scores)
    sweep = pd.read_csv(out / "sweep.csv").set_index("lambda")
    assert list(sweep.index) == [0.0, 1.0, 6.0]
    assert sweep.loc[6.0, "fraction_of_human"] > sweep.loc[0.0, "fraction_of_human"]
    # accuracy over seeds, not one seed's (issue 20): the proof's table
    runs = pd.read_csv(out / "proof_runs.csv")
    assert len(runs) == 12 and set(runs["seed"]) == {0, 1, 2}
    proof = pd.read_csv(out / "proof.csv").set_index(["arm", "metric"])
    assert (proof["n_seeds"] == 3).all()
    assert proof.loc[("timm_harmonizer", "map_alignment"), "min_difference"] > 0
    assert proof.loc[("gala_clickme", "map_alignment"), "min_difference"] > 0
    assert {p.name for p in (out / "explain").iterdir()} == {"smoothgrad.png", "gradient_delta.png", "attention.png"}
    with np.load(out / "attention.npz") as arrays:
        assert arrays["gala_clickme"].shape == arrays["human_maps"].shape == (4, 30, 30)
        assert arrays["smoothgrad/gala"].shape == (4, 30, 30)
        assert arrays["images"].shape == (4, 30, 30, 3) and arrays["images"].max() <= 1
