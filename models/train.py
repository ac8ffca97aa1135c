"""Training with ClickMe supervision: SGD + Nesterov, step schedule, AMP, DDP, resumable checkpoints.

One process per device; under ``torchrun`` (``WORLD_SIZE`` > 1) the model is wrapped in
DistributedDataParallel (NCCL on GPUs, gloo on CPU) and each process reads its share of an
epoch (its shards of a packed folder, or its part of the epoch's permutation of a small data
set). Loader workers decode; crops, flips, map blur and normalisation run on whole batches on
the training device (:func:`models.augment.augment_batch`). Rank 0 validates, logs and writes
checkpoints, atomically (:func:`clickme_analysis.fileio.atomic_write`), after every epoch and on
SIGTERM (at the next step boundary). ``resume=True`` continues from ``last.pt`` to the same
result as an uninterrupted run: batch order, crops and flips are functions of (seed, epoch).
Checkpoints (:mod:`models.checkpoint`) hold tensors and plain values only, read with ``weights_only=True``.
"""

from __future__ import annotations

import dataclasses
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from clickme_analysis.errors import InputError
from clickme_analysis.fileio import AppendLog, atomic_write_text
from clickme_analysis.progress import progress
from clickme_analysis.reliability import PAPER_CEILING
from models.attention import GALA
from models.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from models.config import TrainConfig
from models.data import datasets_from_config, make_dataset
from models.distributed import any_rank, distributed_ranks, on_main_thread, training_device
from models.explain import autocast
from models.harmonize import harmonizer_step_loss, plain_loss, resolve_loss, validate_saliency, warn_without_maps
from models.layers import attention_layers, record_layers
from models.loaders import augmented, decoded_source, epoch_loader, label_range, steps_per_epoch
from models.loss import clickme_loss
from models.networks import load_weights_file, network_from_config
from models.score import evaluate, map_alignment, score_model

STEP_COLUMNS = ["epoch", "step", "lr", "loss", "cross_entropy", "attention", "images_per_s", "data_wait"]
EPOCH_COLUMNS = ["epoch", "split", "loss", "cross_entropy", "attention", "accuracy", "map_alignment", "lr"]


def learning_rate(config: TrainConfig, epoch: float, world: int = 1) -> float:
    """Step schedule with linear warm-up; ``config.lr`` is per 256 images.

    Examples
    --------
    >>> c = TrainConfig(lr=0.1, batch_size=256, milestones=[30, 60])
    >>> [round(learning_rate(c, e), 6) for e in (0, 30, 59.9, 60)]
    [0.1, 0.01, 0.01, 0.001]
    """
    base = config.lr * config.batch_size * world / 256
    if config.warmup_epochs > 0 and epoch < config.warmup_epochs:
        return base * epoch / config.warmup_epochs
    return base * config.gamma ** sum(epoch >= m for m in config.milestones)


def build_optimizer(model: nn.Module, config: TrainConfig, decay: bool = True) -> torch.optim.Optimizer:
    """SGD with Nesterov momentum; no weight decay on GALA's per-channel ``a`` and ``m`` (none at
    all without ``decay``: the harmonizer's L2 term is in its loss)."""
    scalars = {id(p) for m in model.modules() if isinstance(m, GALA) for p in (m.a, m.m)}
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if id(p) not in scalars], "weight_decay": config.weight_decay if decay else 0.0},
        {"params": [p for p in params if id(p) in scalars], "weight_decay": 0.0},
    ]
    return torch.optim.SGD(
        [g for g in groups if g["params"]], lr=config.lr, momentum=config.momentum, nesterov=config.nesterov
    )


@dataclass
class TrainState:
    """Where a run stands: what a checkpoint stores besides weights and optimiser state."""

    epoch: int = 0  # epochs completed
    batch: int = 0  # batches of the current epoch done (non-zero only after SIGTERM)
    step: int = 0  # optimiser steps
    best: float = -1.0  # best validation top-1 accuracy
    sums: dict = field(default_factory=dict)  # running sums of the current epoch


# ----------------------------------------------------------------------------------------------
# devices and processes
# ----------------------------------------------------------------------------------------------
# ----------------------------------------------------------------------------------------------
# logs
# ----------------------------------------------------------------------------------------------
class _Log:
    """Durable CSV logs (and TensorBoard when installed) written by rank 0 only."""

    def __init__(self, out: Path, enabled: bool, fresh: bool):
        self.enabled, self.out, self.tensorboard = enabled, out, None
        if not enabled:
            return
        if fresh:  # a fresh run starts fresh logs
            for name in ("steps.csv", "epochs.csv"):
                (out / name).unlink(missing_ok=True)
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tensorboard = SummaryWriter(out / "tensorboard")
        except ImportError:
            pass

    def write(self, name: str, columns: list[str], row: dict, step: int) -> None:
        if not self.enabled:
            return
        with AppendLog(self.out / name, header=",".join(columns)) as log:
            log.append(",".join(_cell(row.get(k, "")) for k in columns))
        if self.tensorboard is not None:
            prefix = row.get("split", "step")
            for key, value in row.items():
                if isinstance(value, float) and key != "epoch":
                    self.tensorboard.add_scalar(f"{prefix}/{key}", value, step)

    def epoch_row(self, epoch: int, split: str, lr: float, metrics: dict) -> None:
        self.write("epochs.csv", EPOCH_COLUMNS, {"epoch": epoch, "split": split, "lr": lr, **metrics}, epoch)

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()


def _cell(value) -> str:
    return repr(value) if isinstance(value, float) else str(value)


class _Meter:
    """Running sums of one epoch, kept on the device (no GPU sync per step)."""

    KEYS = ("loss", "cross_entropy", "attention", "correct", "n", "maps")

    def __init__(self, sums: dict, device):
        self.device = device
        self.values = torch.tensor([float(sums.get(k, 0.0)) for k in self.KEYS], dtype=torch.float64, device=device)

    def add(self, parts: dict, logits: torch.Tensor, labels: torch.Tensor, has_map: torch.Tensor) -> None:
        n = len(labels)
        correct = (logits.detach().argmax(1) == labels).sum()
        row = [
            parts["loss"].detach() * n,
            parts["cross_entropy"].detach() * n,
            parts["attention"].detach() * n,
            correct,
            torch.ones((), device=labels.device) * n,
            has_map.sum(),
        ]
        self.values += torch.stack([v.to(torch.float64) for v in row])

    def sums(self) -> dict:
        return dict(zip(self.KEYS, self.values.tolist()))

    def means(self) -> dict:
        sums = self.sums()
        count = max(sums["n"], 1)
        return {
            "loss": sums["loss"] / count,
            "cross_entropy": sums["cross_entropy"] / count,
            "attention": sums["attention"] / count,
            "accuracy": sums["correct"] / count,
            "map_alignment": float("nan"),
        }


# ----------------------------------------------------------------------------------------------
# the run
# ----------------------------------------------------------------------------------------------
@dataclass
class _Run:
    """Everything one training run holds (built by :func:`_setup`)."""

    config: TrainConfig
    model: nn.Module
    net: nn.Module
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    layers: list
    device: torch.device
    train_set: object
    val_set: object
    rank: int
    world: int
    out: Path
    log: _Log
    state: TrainState
    loss_options: dict
    loss: str = "clickme"  # clickme | harmonizer | none (models.harmonize.resolve_loss)

    def checkpoint(self) -> dict:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            **dataclasses.asdict(self.state),
            "config": dataclasses.asdict(self.config),
        }

    def save(self, name: str = "last.pt", **state) -> None:
        if self.rank == 0:
            save_checkpoint(self.out / name, state or self.checkpoint())


def _build_model(config: TrainConfig) -> nn.Module:
    with torch.random.fork_rng(devices=[]):  # initial weights from the seed, global RNG untouched
        torch.manual_seed(config.seed)
        model = network_from_config(config)
    if config.init_weights:
        load_weights_file(model, config.init_weights, field="weights")
    return model


def _setup(config: TrainConfig, datasets, resume: bool) -> _Run:
    rank, local_rank, world = distributed_ranks()
    device = training_device(config, local_rank)
    out = Path(config.out)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    train_set, val_set = datasets if datasets is not None else datasets_from_config(config, rank, world)
    train_set = decoded_source(train_set)
    low, high = label_range(train_set)
    if low < 0 or high >= config.num_classes:
        raise InputError(
            f"expected every training image to have a class label in "
            f"[0, {config.num_classes}), got labels from {low} to {high}",
            path=config.train or None,
            field="label",
        )
    model = _build_model(config).to(device)
    loss = resolve_loss(config.loss, model, config.arch)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(model, config, decay=loss != "harmonizer")
    scaler = torch.amp.GradScaler(device.type, enabled=config.amp == "fp16")
    state = TrainState()
    resuming = resume and (out / "last.pt").is_file()
    if resuming:
        saved = load_checkpoint(out / "last.pt")
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scaler.load_state_dict(saved["scaler"])
        state = TrainState(**{f.name: saved[f.name] for f in dataclasses.fields(TrainState)})
    net = model
    if world > 1:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if config.compile:
        net = torch.compile(net)
    loss_options = dict(
        interpolation=config.interpolation,
        reduction=config.reduction,
        normalization=config.normalization,
        distance=config.distance,
        combine=config.combine,
    )
    layers = (list(config.layers) or attention_layers(model)) if loss == "clickme" else []
    return _Run(
        config,
        model,
        net,
        optimizer,
        scaler,
        layers,
        device,
        train_set,
        val_set,
        rank,
        world,
        out,
        _Log(out, rank == 0, not resuming),
        state,
        loss_options,
        loss,
    )


def _train_step(run: _Run, batch: dict, seen: dict, lr: float, amp_context) -> dict:
    for group in run.optimizer.param_groups:
        group["lr"] = lr
    if run.loss == "harmonizer":
        parts = harmonizer_step_loss(run.net, batch, run.config, amp_context)
    else:
        with amp_context:
            logits = run.net(batch["image"])
        parts = (
            plain_loss(logits, batch["label"], run.config.label_smoothing)
            if run.loss == "none"
            else clickme_loss(
                logits,
                batch["label"],
                [seen[n] for n in run.layers],
                batch["map"],
                batch["has_map"],
                lam=run.config.lam,
                **run.loss_options,
            )
        )
        parts["logits"] = logits
    run.optimizer.zero_grad(set_to_none=True)
    run.scaler.scale(parts["loss"]).backward()
    run.scaler.step(run.optimizer)
    run.scaler.update()
    return parts


def _train_epoch(run: _Run, epoch: int, seen: dict, stop: dict, on_step: Callable[[int], None] | None) -> bool:
    """One epoch from ``run.state.batch`` on; False when stopped by SIGTERM (checkpoint saved)."""
    config, state = run.config, run.state
    steps = steps_per_epoch(run.train_set, config, run.world)
    loader = epoch_loader(
        run.train_set, config, run.device, epoch=epoch, start=state.batch, rank=run.rank, world=run.world
    )
    meter = _Meter(state.sums, run.device)
    amp_context = autocast(run.device, config.amp)
    run.net.train()
    bar = progress(
        total=steps,
        initial=state.batch,
        desc=f"epoch {epoch + 1}/{config.epochs}",
        unit="batch",
        enabled=config.progress and run.rank == 0,
    )
    tick, waited = time.perf_counter(), 0.0
    batches = augmented(loader, config, run.device)
    lr = learning_rate(config, epoch + state.batch / steps, run.world)
    while True:
        before = time.perf_counter()
        batch = next(batches, None)
        waited += time.perf_counter() - before
        if batch is None:
            break
        lr = learning_rate(config, epoch + state.batch / steps, run.world)
        parts = _train_step(run, batch, seen, lr, amp_context)
        meter.add(parts, parts["logits"], batch["label"], batch["has_map"])
        state.step += 1
        state.batch += 1
        bar.update()
        if state.step % config.log_every == 0:
            now = time.perf_counter()
            run.log.write(
                "steps.csv",
                STEP_COLUMNS,
                {
                    "epoch": epoch,
                    "step": state.step,
                    "lr": lr,
                    "loss": parts["loss"].item(),
                    "cross_entropy": parts["cross_entropy"].item(),
                    "attention": parts["attention"].item(),
                    "images_per_s": len(batch["label"]) * run.world * config.log_every / max(now - tick, 1e-9),
                    "data_wait": waited / max(now - tick, 1e-9),
                },
                state.step,
            )
            tick, waited = now, 0.0
        if on_step is not None:
            on_step(state.step)
        if any_rank(stop["now"], run.world, run.device):
            state.sums = meter.sums()
            run.save()
            bar.close()
            return False
    bar.close()
    run.log.epoch_row(epoch + 1, "train", lr, meter.means())
    if epoch == 0 and run.rank == 0:
        warn_without_maps(meter.sums()["maps"], run.loss, config.lam, config.train or "training set")
    state.sums, state.batch = {}, 0
    if run.val_set is not None and run.rank == 0:
        metrics = validate(
            run.model, run.val_set, run.layers, config, run.device, loss_options=run.loss_options, loss=run.loss
        )
        run.log.epoch_row(epoch + 1, "val", lr, metrics)
        if metrics["accuracy"] > state.best:
            state.best = metrics["accuracy"]
            run.save(
                "best.pt",
                model=run.model.state_dict(),
                epoch=epoch + 1,
                best=state.best,
                config=dataclasses.asdict(config),
            )
    state.epoch = epoch + 1
    run.save()
    return True


def train(
    config: TrainConfig, datasets=None, resume: bool = False, on_step: Callable[[int], None] | None = None
) -> dict:
    """Train a network with the ClickMe loss.

    Parameters
    ----------
    config : TrainConfig
    datasets : tuple (train, val), optional
        Default :func:`models.data.datasets_from_config`. Either of
        :class:`models.data.SampleDataset`, :class:`models.data.PairedDataset` or
        :class:`models.shards.ShardStream` (val may be None).
    resume : bool, default False
        Continue from ``<out>/last.pt``.
    on_step : callable, optional
        Called with the global step after each optimiser step.

    Returns
    -------
    dict
        ``status`` ("finished" or "interrupted"), ``epoch`` (epochs completed), ``best``
        (best validation top-1 accuracy), ``out`` (the run folder).

    Files in ``config.out``: ``last.pt``, ``best.pt``, ``steps.csv``, ``epochs.csv``; every
    checkpoint holds the configuration (key ``config``). The loss is ``config.loss``
    (:func:`models.harmonize.resolve_loss`); the logs' ``attention`` column is its map term.
    ``config.deterministic`` turns on ``torch.use_deterministic_algorithms`` for the run: on a
    CPU the same seed then gives bit-identical weights for a given machine and thread count.
    """
    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(config.deterministic or deterministic)
    try:
        return _train(config, datasets, resume, on_step)
    finally:
        torch.use_deterministic_algorithms(deterministic)


def _train(config: TrainConfig, datasets, resume: bool, on_step) -> dict:
    run = _setup(config, datasets, resume)
    stop = {"now": False}
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True)) if on_main_thread() else None
    status = "finished"
    try:
        with record_layers(run.model, run.layers) as seen:
            for epoch in range(run.state.epoch, config.epochs):
                if not _train_epoch(run, epoch, seen, stop, on_step):
                    status = "interrupted"
                    break
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        run.log.close()
        if run.world > 1:
            import torch.distributed as dist

            dist.destroy_process_group()
    if status == "finished" and run.val_set is None:  # no validation: keep the last weights
        run.save(
            "best.pt",
            model=run.model.state_dict(),
            epoch=config.epochs,
            best=run.state.best,
            config=dataclasses.asdict(config),
        )
    return {
        "status": status,
        "epoch": run.state.epoch if status != "finished" else config.epochs,
        "best": run.state.best,
        "out": run.out,
    }


def validate(model, dataset, layers, config: TrainConfig, device, *, loss_options, loss: str = "clickme") -> dict:
    """Loss, accuracy and mean map alignment (Spearman) of ``model`` on ``dataset``: of the
    attention map of the last supervised layer (ClickMe loss), else of the gradient saliency."""
    loader = epoch_loader(decoded_source(dataset), config, device, train=False)
    if loss != "clickme":
        return validate_saliency(
            model, augmented(loader, config, device), config, device, amp_context=autocast(device, config.amp)
        )
    frame, model_maps, human_maps = evaluate(
        model,
        augmented(loader, config, device),
        layers,
        lam=config.lam,
        device=device,
        amp=config.amp,
        channels_last=config.channels_last,
        loss_options=loss_options,
    )
    has = frame["has_map"].to_numpy(bool)
    rho = map_alignment(model_maps[has], human_maps[has]) if has.any() else np.array([np.nan])
    ce = float(frame["cross_entropy"].mean())
    attention = float(frame["distance"].mean()) if has.any() else 0.0
    return {
        "loss": ce + config.lam * attention,
        "cross_entropy": ce,
        "attention": attention,
        "accuracy": float(frame["top1_correct"].mean()),
        "map_alignment": float(np.nanmean(rho)) if np.isfinite(rho).any() else float("nan"),
    }


def sweep(
    config: TrainConfig,
    key: str,
    values: list,
    datasets=None,
    *,
    resume: bool = False,
    n_permutations: int = 200,
    ceiling: float = PAPER_CEILING,
) -> pd.DataFrame:
    """Train one run per value of ``key`` (in ``<out>/<key>=<value>``) and score each on val.

    Returns
    -------
    DataFrame
        One row per run: ``<key>, top1_err, fraction_human, ceiling, null_floor, rho_mean,
        p_value, top5_err, out`` (also written to ``<out>/sweep.csv``).
    """
    if not config.val and (datasets is None or datasets[1] is None):
        raise InputError("a sweep needs a validation set to score", field="val")
    rows = []
    for value in values:
        label = f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}"  # lam=6, not lam=6.0
        run = config.replace(**{key: value, "out": str(Path(config.out) / label)})
        result = train(run, datasets, resume=resume)
        if datasets is not None and hasattr(datasets[1], "options"):
            val = datasets[1]
        else:
            val = make_dataset(run, run.val, run.val_maps or run.maps)
        model, _ = model_from_checkpoint(Path(result["out"]) / "best.pt")
        _, summary = score_model(
            model, val, label, batch_size=run.batch_size, ceiling=ceiling, n_permutations=n_permutations, seed=run.seed
        )
        rows.append(
            {"lambda" if key == "lam" else key: value, **summary.iloc[0].drop("model"), "out": str(result["out"])}
        )
    table = pd.DataFrame(rows)
    Path(config.out).mkdir(parents=True, exist_ok=True)
    atomic_write_text(Path(config.out) / "sweep.csv", table.to_csv(index=False))
    return table
