"""Partners of the ClickMe game and their queries, run off the frame loop.

A partner is a callable ``partner(view) -> list of labels`` (best first) over a
:class:`PartnerView`. :class:`ModelPartner` wraps a network trained by ``models`` (torch is
imported only there); :class:`StandInPartner` is a documented stand-in for demos and tests.
:class:`PartnerQueries` sends one query at a time to a worker thread and collects answers
without the frame loop ever waiting; it records each query's latency.
"""

from __future__ import annotations

import concurrent.futures
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clickme_analysis.errors import InputError
from clickme_analysis.synthetic import saliency_standin
from experiments.game.task import RoundState, partner_view

#: share of its reference map the stand-in partner needs revealed: under the original game's
#: 7 px point rule about 75 points (the original's mean per map) reveal it in most rounds
STANDIN_THRESHOLD = 0.2


@dataclass(frozen=True)
class PartnerView:
    """One query: the partner's masked image and, for stand-ins, which pixels are revealed."""

    image_id: str
    image: np.ndarray  # uint8 (H, W, 3), bubbles of the image on the background
    mask: np.ndarray  # bool (H, W)


class StandInPartner:
    """A stand-in partner for demos and tests, not a network.

    It "recognizes" an image once the revealed pixels hold at least ``threshold`` of the mass of
    a reference importance map (by default the bottom-up saliency stand-in of
    :func:`clickme_analysis.synthetic.saliency_standin`). Its top-k list then holds the true
    label and ``k - 1`` other labels; before that, ``k`` labels other than the true one. The
    other labels are drawn from ``labels`` with a generator seeded by (``seed``, query count).

    Parameters
    ----------
    labels : list of str
        The label set guessed from.
    truth : dict
        Image id -> true label.
    references : dict
        Image id -> (H, W) non-negative reference map.
    threshold : float
        Fraction of the reference mass that must be revealed.
    top_k : int
    seed : int
    """

    description = "stand-in (revealed share of a reference importance map), not a network"

    def __init__(
        self, labels, truth: dict, references: dict, threshold: float = STANDIN_THRESHOLD, top_k: int = 5, seed: int = 0
    ):
        if not 0 < threshold <= 1:
            raise InputError(f"expected a threshold in (0, 1], got {threshold}", field="threshold")
        missing = set(truth) - set(references)
        if missing:
            raise InputError(f"no reference map for images {sorted(missing)[:5]}", field="references")
        self.labels, self.truth, self.threshold, self.top_k, self.seed = list(labels), truth, threshold, top_k, seed
        self.references = {
            k: np.asarray(v, dtype=np.float64) / max(float(np.sum(v)), 1e-12) for k, v in references.items()
        }
        self._queries = 0

    @classmethod
    def from_images(cls, images, labels, *, threshold: float = STANDIN_THRESHOLD, top_k: int = 5, seed: int = 0):
        """A stand-in whose references are the saliency stand-in maps of ``images``."""

        return cls(
            labels,
            {im.image_id: im.label for im in images},
            {im.image_id: saliency_standin(im.image) for im in images},
            threshold,
            top_k,
            seed,
        )

    def revealed(self, view: PartnerView) -> float:
        """Share of the reference map's mass under the revealed pixels."""
        return float(self.references[view.image_id][view.mask].sum())

    def __call__(self, view: PartnerView) -> list[str]:
        rng = np.random.default_rng([self.seed, self._queries])
        self._queries += 1
        truth = self.truth[view.image_id]
        others = [label for label in self.labels if label != truth]
        recognized = self.revealed(view) >= self.threshold
        n_other = min(len(others), self.top_k - 1 if recognized else self.top_k)
        guesses = [others[i] for i in rng.permutation(len(others))[:n_other]]
        return [truth, *guesses] if recognized else guesses


class ModelPartner:
    """A network trained by ``models`` (``best.pt`` / ``last.pt``) as the game partner.

    The view goes through :func:`models.data.eval_transform`, the one evaluation transform of
    ``models`` (resized to the checkpoint's ``resize``, center-cropped to its ``image_size``,
    normalized with the ImageNet statistics); the answer is the top-k class names.

    Parameters
    ----------
    checkpoint : str or Path
    classes : list of str
        Class names in the network's output order (``models`` numbers sorted class names).
    top_k : int
    device : str
    """

    def __init__(self, checkpoint, classes, top_k: int = 5, device: str = "cpu"):
        from models.checkpoint import model_from_checkpoint

        self.model, self.config = model_from_checkpoint(checkpoint, device=device)
        if len(classes) != self.config.num_classes:
            raise InputError(
                f"expected {self.config.num_classes} class names for this checkpoint, got {len(classes)}",
                path=checkpoint,
                field="classes",
            )
        self.classes, self.top_k, self.device = list(classes), min(top_k, len(classes)), device
        self.description = f"model {Path(checkpoint).name} ({self.config.arch}, {self.config.num_classes} classes)"

    def __call__(self, view: PartnerView) -> list[str]:
        import torch

        from models.data import eval_transform

        with torch.inference_mode():
            x = eval_transform(view.image, self.config.image_size, self.config.resize)[None].to(self.device)
            best = self.model(x)[0].topk(self.top_k).indices.tolist()
        return [self.classes[i] for i in best]


def read_classes(path) -> list[str]:
    """Class names, one per line, in the network's output order."""
    path = Path(path)
    if not path.is_file():
        raise InputError("classes file not found", path=path)
    names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not names:
        raise InputError("expected one class name per line, got none", path=path)
    return names


class _Immediate:
    """An executor that runs the call at once (window-free play: deterministic, no thread)."""

    def submit(self, fn, *args):
        future = concurrent.futures.Future()
        future.set_result(fn(*args))
        return future

    def shutdown(self, wait: bool = True) -> None:
        pass


class PartnerQueries:
    """Queries the partner during a round without the frame loop ever waiting.

    At most one query is in flight. A new one is sent once the previous has answered and its
    interval (uniform in ``[query_min, query_max]`` s from the previous send) has passed; the
    masked view is built in the worker from a snapshot of the points. Each answer is recorded on
    the round with the time it was sent, the time the frame loop saw it (their difference is the
    latency the player experienced) and the partner's own compute time.

    Parameters
    ----------
    partner : callable
        ``partner(PartnerView) -> list of labels``.
    config : GameConfig
    threaded : bool
        Run queries in a worker thread (True: the game) or at once (False: window-free play).
    """

    def __init__(self, partner, config, threaded: bool = True):
        self.partner, self.config = partner, config
        self.executor = (
            concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="partner") if threaded else _Immediate()
        )
        self.pending = None

    def start(self, state: RoundState, rng: np.random.Generator) -> None:
        """Begin a round: a query still running from the last round is abandoned."""
        self.state, self.rng, self.pending, self.next_time = state, rng, None, 0.0
        self.noise_rng = np.random.default_rng(rng.integers(2**32))  # used by the worker only

    def _query(self, image_id, image, x, y):
        start = time.perf_counter()
        view, mask = partner_view(
            image,
            x,
            y,
            bubble=self.config.partner_bubble,
            background=self.config.partner_background,
            rng=self.noise_rng,
        )
        top = list(self.partner(PartnerView(image_id, view, mask)))[: self.config.top_k]
        return top, time.perf_counter() - start

    def poll(self, t: float) -> None:
        """Collect a finished answer and send the next query when due (never blocks)."""
        state = self.state
        if self.pending is not None and self.pending[0].done():
            future, sent, n = self.pending
            top, compute = future.result()
            state.answer(sent, t, top=top, compute=compute, n_points=n)
            self.pending = None
        if self.pending is None and t >= self.next_time and state.first_press is not None:
            n = len(state.x)
            future = self.executor.submit(
                self._query, state.image.image_id, state.image.image, list(state.x), list(state.y)
            )
            self.pending = (future, t, n)
            self.next_time = t + self.rng.uniform(self.config.query_min, self.config.query_max)

    def close(self) -> None:
        self.executor.shutdown(wait=True)
