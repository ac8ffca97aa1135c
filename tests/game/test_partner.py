"""Partners: the stand-in's rule, the model partner on a tiny checkpoint, queries off the frame loop."""

from __future__ import annotations

import time

import numpy as np
import pytest

from clickme_analysis.errors import InputError
from experiments.game.config import GameConfig
from experiments.game.partner import ModelPartner, PartnerQueries, PartnerView, StandInPartner, read_classes
from experiments.game.task import GameImage, RoundState

LABELS = ["cat", "dog", "car", "cup", "fox", "owl", "bus"]


def _standin(threshold=0.5, top_k=5, seed=0):
    reference = np.zeros((10, 10))
    reference[:, :5] = 1.0  # the left half holds all the mass
    return StandInPartner(LABELS, {"img": "cat"}, {"img": reference}, threshold, top_k, seed)


def _view(mask):
    return PartnerView("img", np.zeros((10, 10, 3), np.uint8), mask)


def test_standin_recognises_once_enough_reference_mass_is_revealed():
    partner = _standin(threshold=0.5)
    mask = np.zeros((10, 10), bool)
    mask[:4, :5] = True  # 20 of the 50 reference pixels: 0.4
    assert partner.revealed(_view(mask)) == pytest.approx(0.4)
    guesses = partner(_view(mask))
    assert "cat" not in guesses and len(guesses) == 5 and len(set(guesses)) == 5
    mask[:, 5:] = True  # the right half carries no reference mass
    assert "cat" not in partner(_view(mask))
    mask[4, :5] = True  # 25 of 50: exactly the threshold
    guesses = partner(_view(mask))
    assert guesses[0] == "cat" and len(set(guesses)) == 5 and set(guesses) <= set(LABELS)


def test_standin_is_seeded():
    mask = np.zeros((10, 10), bool)
    runs = [[_standin(seed=s)(_view(mask)) for _ in range(3)] for s in (1, 1, 2)]
    assert runs[0] == runs[1] and runs[0] != runs[2]


def test_standin_bad_input():
    with pytest.raises(InputError, match="threshold"):
        _standin(threshold=0)
    with pytest.raises(InputError, match="no reference map"):
        StandInPartner(LABELS, {"img": "cat", "other": "dog"}, {"img": np.ones((2, 2))})


class _Slow:
    def __init__(self, seconds):
        self.seconds, self.calls, self.active, self.most_active = seconds, 0, 0, 0

    def __call__(self, view):
        self.calls += 1
        self.active += 1
        self.most_active = max(self.most_active, self.active)
        time.sleep(self.seconds)
        self.active -= 1
        return ["cat"] if view.mask.any() else ["dog"]


def _state():
    state = RoundState(GameImage("img", "cat", np.zeros((32, 32, 3), np.uint8)), 32, 4)
    state.update(0.0, 10, 10, pressed=True)
    return state


def test_queries_never_block_the_frame_loop_and_record_latency():
    config = GameConfig(query_min=0.01, query_max=0.01)
    partner = _Slow(0.3)
    queries = PartnerQueries(partner, config, threaded=True)
    state = _state()
    queries.start(state, np.random.default_rng(0))
    start = time.perf_counter()
    polls = []
    while not state.guesses and time.perf_counter() - start < 5:
        t = time.perf_counter() - start
        tick = time.perf_counter()
        queries.poll(t)
        polls.append(time.perf_counter() - tick)
        time.sleep(0.005)
    queries.close()
    assert max(polls) < 0.05  # a poll never waits for the 0.3 s partner
    assert partner.most_active == 1 and partner.calls <= 2  # one query in flight at a time
    guess = state.guesses[0]
    assert guess["correct"] and guess["top"] == ["cat"] and guess["n_points"] == 1
    assert guess["compute_ms"] >= 300 and guess["latency_ms"] >= guess["compute_ms"] - 1
    assert state.success_time == pytest.approx(guess["t"] / 1000, abs=1e-3)


def test_queries_wait_for_the_press_and_space_by_the_interval():
    config = GameConfig(query_min=0.2, query_max=0.2)
    partner = _Slow(0.0)
    queries = PartnerQueries(partner, config, threaded=False)
    state = RoundState(GameImage("img", "cat", np.zeros((32, 32, 3), np.uint8)), 32, 4)
    queries.start(state, np.random.default_rng(0))
    queries.poll(0.0)
    assert partner.calls == 0  # nothing painted yet
    state.update(0.05, 3, 3, True)
    for t in np.arange(0.05, 1.0, 0.05):
        queries.poll(float(t))
    assert [g["t_sent"] for g in state.guesses] == [50.0, 250.0, 450.0, 650.0, 850.0]


def _checkpoint(tmp_path, num_classes=3):
    import dataclasses

    import torch

    from models.checkpoint import save_checkpoint
    from models.config import TrainConfig
    from models.networks import build_network

    config = TrainConfig(arch="tiny_resnet", num_classes=num_classes, tiny_width=4, image_size=24, resize=32)
    torch.manual_seed(0)
    model = build_network(config.arch, num_classes=num_classes, tiny_width=4).eval()
    save_checkpoint(tmp_path / "best.pt", {"model": model.state_dict(), "config": dataclasses.asdict(config)})
    return tmp_path / "best.pt", model


def test_model_partner_answers_the_networks_top_k(tmp_path):
    import torch

    from models.augment import IMAGENET_MEAN, IMAGENET_STD

    path, model = _checkpoint(tmp_path)
    partner = ModelPartner(path, ["car", "cat", "dog"], top_k=2)
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    x = torch.from_numpy(image).permute(2, 0, 1).float()[:, 4:28, 4:28] / 255
    x = (x - torch.tensor(IMAGENET_MEAN)[:, None, None]) / torch.tensor(IMAGENET_STD)[:, None, None]
    with torch.no_grad():
        order = model(x[None])[0].argsort(descending=True).tolist()
    assert partner(PartnerView("a", image, np.ones((32, 32), bool))) == [["car", "cat", "dog"][i] for i in order[:2]]
    assert "tiny_resnet" in partner.description


def test_model_partner_bad_input(tmp_path):
    path, _ = _checkpoint(tmp_path)
    with pytest.raises(InputError, match="expected 3 class names"):
        ModelPartner(path, ["a", "b"])
    with pytest.raises(InputError, match="checkpoint not found"):
        ModelPartner(tmp_path / "none.pt", ["a"])


def test_read_classes(tmp_path):
    path = tmp_path / "classes.txt"
    path.write_text("cat\n\ndog\n")
    assert read_classes(path) == ["cat", "dog"]
    path.write_text("\n")
    with pytest.raises(InputError, match="one class name per line"):
        read_classes(path)
    with pytest.raises(InputError, match="not found"):
        read_classes(tmp_path / "none.txt")
