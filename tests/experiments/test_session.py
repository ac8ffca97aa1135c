import json

import numpy as np
import pandas as pd
import pytest

from clickme_analysis.errors import InputError
from experiments.config import load_experiment_config
from experiments.observer import SimulatedObserver
from experiments.session import DATA_COLUMNS, TrialLog, simulate_session


def test_windowless_session_writes_every_trial(config_file, tmp_path):
    cfg = load_experiment_config(config_file)
    csv = simulate_session(cfg, "P003", tmp_path / "data", SimulatedObserver(rt_median=0.5, rt_sigma=0.3))
    rows = pd.read_csv(csv)
    assert tuple(rows.columns) == DATA_COLUMNS
    assert len(rows) == 2 + 8 and (rows["participant"] == "P003").all() and (rows["group"] == "saliency").all()
    answered = rows[rows["timed_out"] == 0]
    assert np.allclose(answered["rt"], answered["rt_frames"] / 60)
    assert (answered["rt_frames"] < 33).all()
    missed = rows[rows["timed_out"] == 1]
    assert len(missed) > 0 and missed["rt"].isna().all() and (missed["correct"] == 0).all()
    assert (rows["target_key"] == "l").all()  # index 3: second of its group, so the key map is swapped
    key_ok = (
        np.where(answered["target"] == 1, answered["target_key"], answered["distractor_key"]) == answered["response"]
    )
    assert np.array_equal(key_ok, answered["correct"] == 1)
    record = json.loads(csv.with_suffix(".json").read_text())
    assert record["status"] == "completed" and record["participant_index"] == 3 and record["seed"] == [0, 3]


def test_existing_data_needs_resume(config_file, tmp_path):
    cfg = load_experiment_config(config_file)
    simulate_session(cfg, "P1", tmp_path, SimulatedObserver())
    with pytest.raises(InputError, match="--resume") as err:
        simulate_session(cfg, "P1", tmp_path, SimulatedObserver())
    assert err.value.field == "participant"
    with pytest.raises(InputError, match="config differs"):
        simulate_session(load_experiment_config(config_file, seed=9), "P1", tmp_path, SimulatedObserver(), resume=True)
    with pytest.raises(InputError, match="index"):
        simulate_session(cfg, "P1", tmp_path, SimulatedObserver(), index=4, resume=True)


def test_abort_then_resume_completes_each_trial_once(config_file, tmp_path):
    cfg = load_experiment_config(config_file)
    simulate_session(cfg, "P2", tmp_path, SimulatedObserver(abort_at=5))
    assert json.loads((tmp_path / "P2.json").read_text())["status"] == "aborted"
    assert len(pd.read_csv(tmp_path / "P2.csv")) == 4
    simulate_session(cfg, "P2", tmp_path, SimulatedObserver(), resume=True)
    rows = pd.read_csv(tmp_path / "P2.csv")
    assert len(rows) == 10 and not rows.duplicated(["phase", "block", "trial"]).any()
    record = json.loads((tmp_path / "P2.json").read_text())
    assert record["status"] == "completed" and record["resumed"][0]["trials_done"] == 4


def test_trial_log_drops_a_partial_last_line(tmp_path):
    path = tmp_path / "p.csv"
    with TrialLog(path) as log:
        log.append({"phase": "test", "block": 1, "trial": 1, "rt": 0.5, "correct": True})
    with open(path, "a") as f:
        f.write("P,0,clickme,0,ke")  # killed mid-write
    with TrialLog(path) as log:
        assert log.completed() == {("test", 1, 1)}
        log.append({"phase": "test", "block": 1, "trial": 2, "rt": float("nan")})
    rows = pd.read_csv(path)
    assert rows["trial"].tolist() == [1, 2] and rows["correct"].tolist()[0] == 1 and np.isnan(rows["rt"][1])


def test_bad_participant_id(config_file, tmp_path):
    with pytest.raises(InputError, match="participant ID"):
        simulate_session(load_experiment_config(config_file), "a b", tmp_path, SimulatedObserver())


def test_resume_with_a_damaged_session_record_is_a_located_error(config_file, tmp_path):
    cfg = load_experiment_config(config_file)
    simulate_session(cfg, "P4", tmp_path, SimulatedObserver(abort_at=3))
    (tmp_path / "P4.json").write_bytes(b"\x00\xff not json")
    with pytest.raises(InputError, match="P4.json: expected the session record"):
        simulate_session(cfg, "P4", tmp_path, SimulatedObserver(), resume=True)
