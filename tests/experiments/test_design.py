import numpy as np
import pandas as pd
import pytest

from clickme_analysis.errors import InputError
from experiments.config import ExperimentConfig
from experiments.design import (
    assign_participant,
    build_trials,
    frames_for,
    latin_square,
    load_assignment,
    load_manifest,
    participant_index,
    score_response,
)

from .conftest import make_stimuli


@pytest.fixture
def manifest(tmp_path):
    return load_manifest(make_stimuli(tmp_path / "stim"))


def test_manifest_paths_are_resolved_and_typed(manifest, tmp_path):
    assert manifest["target"].dtype == bool
    assert all(p.startswith(str(tmp_path)) for p in manifest["path"])
    assert len(manifest) == 12 * 7


def test_latin_square_each_image_once_per_list_each_condition_once_per_image(manifest):
    sq = latin_square(manifest)
    n_conditions = 4  # three revealed levels + intact
    assert sq["participant_list"].nunique() == n_conditions
    assert (sq.groupby("participant_list")["image_id"].nunique() == 12).all()
    per_image = sq.groupby("image_id").apply(lambda g: len(set(zip(g["level"], g["map_source"]))), include_groups=False)
    assert (per_image == n_conditions).all()
    # list L, image i -> condition (i + L) mod n: image 0 of list 3 is the intact image
    row = sq[(sq["participant_list"] == 3) & (sq["image_id"] == "img0")].iloc[0]
    assert row["map_source"] == "intact"


@pytest.mark.parametrize("n_lists", [2, 3])
def test_assignment_rotation_balances_groups_lists_and_keys(n_lists):
    cfg = ExperimentConfig()
    infos = [assign_participant(k, cfg, n_lists=n_lists) for k in range(4 * n_lists)]
    cells = pd.DataFrame(infos).groupby(["group", "target_key"]).size()
    assert (cells == n_lists).all() and len(cells) == 4  # groups x key maps crossed
    lists_keys = pd.DataFrame(infos).groupby(["group", "participant_list", "target_key"]).size()
    assert (lists_keys == 1).all() and len(lists_keys) == 2 * 2 * n_lists  # every cell once
    assert infos[2]["key_map"] == "target=l;distractor=s"
    assert [i["target_key"] for i in infos[:4]] == ["s", "s", "l", "l"]  # balanced in the first 2G


def test_build_trials_balanced_and_seeded(manifest):
    cfg = ExperimentConfig(n_training=2, n_blocks=2, trials_per_block=4, seed=3)
    sq = latin_square(manifest)
    info, trials = build_trials(manifest, sq, 5, cfg)
    assert info["group"] == "saliency" and info["participant_list"] == 2
    test = trials[trials["phase"] == "test"]
    assert len(test) == 8 and test["image_id"].is_unique
    assert (test.groupby("block")["target"].sum() == 2).all()
    assert set(test["map_source"]) <= {"saliency", "intact"}
    training = trials[trials["phase"] == "training"]
    assert len(training) == 2 and (training["map_source"] == "intact").all() and training["target"].sum() == 1
    assert not set(training["image_id"]) & set(test["image_id"])
    assert trials["fixation_duration"].between(cfg.fixation_min, cfg.fixation_max).all()
    again = build_trials(manifest, sq, 5, cfg)[1]
    pd.testing.assert_frame_equal(trials, again)
    other = build_trials(manifest, sq, 7, cfg)[1]
    assert not other["image_id"].equals(trials["image_id"])
    # levels follow the Latin square of the participant's list
    want = sq[sq["participant_list"] == 2].set_index("image_id")["level"]
    assert np.allclose(test["level"].to_numpy(), want[test["image_id"]].to_numpy())


def test_build_trials_too_many_trials(manifest):
    with pytest.raises(InputError, match="need 12 targets"):
        build_trials(manifest, latin_square(manifest), 0, ExperimentConfig(n_blocks=3, trials_per_block=8))


def test_assignment_level_missing_from_manifest(manifest, tmp_path):
    path = tmp_path / "assignment.csv"
    pd.DataFrame({"participant_list": [0, 0], "image_id": ["img0", "img1"], "level": [1.0, 3.0]}).to_csv(
        path, index=False
    )
    with pytest.raises(InputError, match="no stimulus for image 'img1' at level 3.0"):
        build_trials(manifest, load_assignment(path), 0, ExperimentConfig(n_training=0, n_blocks=1, trials_per_block=2))


def test_assignment_without_map_source_finds_the_intact_image(tmp_path):
    manifest = load_manifest(make_stimuli(tmp_path / "stim", levels=(1.0, 10.0)))
    sq = latin_square(manifest).drop(columns="map_source")  # the intact condition is level 100
    info, trials = build_trials(manifest, sq, 0, ExperimentConfig(n_training=0, n_blocks=1, trials_per_block=12))
    assert (trials["map_source"] == "intact").sum() == 4


@pytest.mark.parametrize(
    "content, field, line",
    [
        ("image_id,category,target,map_source,level\n", "path", None),
        ("image_id,category,target,map_source,level,path\na,animal,maybe,x,1,a.png\n", "target", 2),
        ("image_id,category,target,map_source,level,path\na,animal,1,x,1,a.png\na,animal,1,x,-1,b.png\n", "level", 3),
        ("image_id,category,target,map_source,level,path\na,animal,1,x,1,a.png\na,animal,1,x,1,b.png\n", "image_id", 3),
        ("image_id,category,target,map_source,level,path\na,animal,1,x,1,a.png\nb,animal,1,x,2,\n", "path", 3),
        ("image_id,category,target,map_source,level,path\na,animal,1,,1,a.png\n", "map_source", 2),
    ],
)
def test_bad_manifest(tmp_path, content, field, line):
    path = tmp_path / "m.csv"
    path.write_text(content)
    with pytest.raises(InputError) as err:
        load_manifest(path)
    assert (err.value.field, err.value.line) == (field, line)


def test_bad_assignment(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("participant_list,image_id,level\nx,a,1\n")
    with pytest.raises(InputError) as err:
        load_assignment(path)
    assert err.value.field == "participant_list" and err.value.line == 2
    with pytest.raises(InputError, match="not found"):
        load_assignment(tmp_path / "none.csv")


def test_frames_for():
    assert frames_for(0.4, 60) == 24 and frames_for(0.55, 60) == 33 and frames_for(0.4, 100) == 40
    with pytest.raises(InputError, match="57.60 frames"):
        frames_for(0.4, 144)
    assert frames_for(0.4, 144, allow_rounding=True) == 58
    with pytest.raises(InputError):
        frames_for(0.4, 0)


def test_score_response_and_participant_index():
    info = {"target_key": "l", "distractor_key": "s"}
    assert score_response("l", True, info)["correct"] and not score_response("s", True, info)["correct"]
    assert score_response("s", False, info)["correct"]
    assert score_response(None, False, info) == {
        "response": "",
        "responded_target": None,
        "correct": False,
        "timed_out": True,
    }
    assert participant_index("P007") == 7
    with pytest.raises(InputError):
        participant_index("anna")
