"""Training with ClickMe supervision: SGD + Nesterov, step schedule, AMP, DDP, resumable checkpoints.

One process per device; under ``torchrun`` (``WORLD_SIZE`` > 1) the model is wrapped in
DistributedDataParallel (NCCL on GPUs, gloo on CPU) and each process reads its shard of an
epoch's permutation. Rank 0 validates, logs and writes checkpoints. Checkpoints are written
atomically (temporary file + rename) after every epoch and on SIGTERM (at the next step
boundary); ``resume=True`` continues from ``last.pt`` to the same result as an uninterrupted run
(crops, flips and batch order are drawn from (seed, epoch, index)).
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import signal
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
from torch import nn

from clickme_analysis.errors import InputError
from models.config import TrainConfig
from models.loss import attention_layers, clickme_loss, record_layers, unwrap
from models.score import _autocast, evaluate, map_alignment

CHECKPOINT_FORMAT = "clickme-models-checkpoint/1"
STEP_COLUMNS = ["epoch", "step", "lr", "loss", "cross_entropy", "attention", "images_per_s"]
EPOCH_COLUMNS = ["epoch", "split", "loss", "cross_entropy", "attention", "accuracy",
                 "map_alignment", "lr"]


class EpochSampler(torch.utils.data.Sampler):
    """The indices of one epoch: a permutation drawn from (seed, epoch), this rank's share
    (padded to equal length across ranks), from batch ``start`` on."""

    def __init__(self, n: int, seed: int, epoch: int, rank: int = 0, world: int = 1,
                 start: int = 0, batch_size: int = 1):
        order = np.random.default_rng([seed, epoch]).permutation(n)
        per_rank = math.ceil(n / world)
        order = np.resize(order, per_rank * world)[rank::world]
        self.indices = order[start * batch_size:].tolist()

    def __iter__(self):
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


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


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """SGD with Nesterov momentum; no weight decay on GALA's per-channel ``a`` and ``m``."""
    from models.attention import GALA

    scalars = {id(p) for m in model.modules() if isinstance(m, GALA) for p in (m.a, m.m)}
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if id(p) not in scalars],
               "weight_decay": config.weight_decay},
              {"params": [p for p in params if id(p) in scalars], "weight_decay": 0.0}]
    return torch.optim.SGD([g for g in groups if g["params"]], lr=config.lr,
                           momentum=config.momentum, nesterov=config.nesterov)


def save_checkpoint(path, state: dict) -> None:
    """Write a checkpoint atomically: to ``path.tmp``, then renamed over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"format": CHECKPOINT_FORMAT, **state}, tmp)
    os.replace(tmp, path)


def load_checkpoint(path) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`."""
    path = Path(path)
    if not path.is_file():
        raise InputError("checkpoint not found", path=path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # torch raises many types on a corrupt file
        raise InputError(f"cannot read checkpoint: {err}", path=path) from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise InputError(f"expected a {CHECKPOINT_FORMAT} checkpoint", path=path, field="format")
    return state


def model_from_checkpoint(path, device="cpu") -> tuple[nn.Module, TrainConfig]:
    """Rebuild the network of a checkpoint (``last.pt`` or ``best.pt``) with its weights."""
    from models.config import config_from_dict
    from models.resnet import build_model

    state = load_checkpoint(path)
    config = config_from_dict(state["config"])
    model = build_model(config.arch, config.num_classes, config.gala_variant,
                        config.gala_reduction, config.tiny_width)
    model.load_state_dict(state["model"])
    return model.to(device).eval(), config


def _distributed() -> tuple[int, int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 0, 1
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), int(os.environ.get("LOCAL_RANK", "0")), world


def _device(config: TrainConfig, local_rank: int) -> torch.device:
    if config.device == "auto":
        return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    if config.device == "cuda":
        return torch.device(f"cuda:{local_rank}")
    if config.device == "cpu":
        return torch.device("cpu")
    raise InputError(f"expected device 'auto', 'cpu' or 'cuda', got {config.device!r}", field="device")


def make_dataset(config: TrainConfig, spec: str, maps: str = "", train: bool = False):
    """A :class:`models.data.PairedDataset` of ``spec`` with ``config``'s transforms.

    ``spec`` is a path (see :func:`models.data.load_samples`) or ``"synthetic"`` (the synthetic
    task: ``synthetic_train`` training images, or ``synthetic_val`` held-out ones drawn from
    another seed).
    """
    from models.data import PairedDataset, load_samples
    from models.synthetic import synthetic_samples

    if spec == "synthetic":
        n = config.synthetic_train if train else config.synthetic_val
        samples = synthetic_samples(n, seed=config.seed * 1000 + (1 if train else 2),
                                    image_size=config.image_size, n_classes=config.num_classes)
    else:
        samples, _ = load_samples(spec, maps or None, config.label_column)
    return PairedDataset(samples, train, config.image_size, config.resize, config.blur_size,
                         config.map_source, seed=config.seed)


def datasets_from_config(config: TrainConfig):
    """The (train, val) datasets of a configuration (val is None without ``config.val``)."""
    if not config.train:
        raise InputError("expected a training set", field="train")
    val = make_dataset(config, config.val, config.val_maps or config.maps) if config.val else None
    return make_dataset(config, config.train, config.maps, train=True), val


class _Log:
    """Append-only CSV (and TensorBoard when installed) logs of rank 0."""

    def __init__(self, out: Path, enabled: bool):
        self.enabled, self.out = enabled, out
        self.tensorboard = None
        if enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter
                self.tensorboard = SummaryWriter(out / "tensorboard")
            except ImportError:
                pass

    def write(self, name: str, columns: list[str], row: dict, step: int) -> None:
        if not self.enabled:
            return
        path = self.out / name
        new = not path.exists()
        with open(path, "a", newline="") as fh:
            writer = csv.DictWriter(fh, columns)
            if new:
                writer.writeheader()
            writer.writerow({k: row.get(k, "") for k in columns})
        if self.tensorboard is not None:
            prefix = row.get("split", "step")
            for key, value in row.items():
                if isinstance(value, float) and key not in ("epoch",):
                    self.tensorboard.add_scalar(f"{prefix}/{key}", value, step)

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()


def train(config: TrainConfig, datasets=None, resume: bool = False,
          on_step: Callable[[int], None] | None = None) -> dict:
    """Train a network with the ClickMe loss.

    Parameters
    ----------
    config : TrainConfig
    datasets : tuple (train, val), optional
        :class:`models.data.PairedDataset` objects; default :func:`datasets_from_config`.
    resume : bool, default False
        Continue from ``<out>/last.pt``.
    on_step : callable, optional
        Called with the global step after each optimiser step.

    Returns
    -------
    dict
        ``status`` ("finished" or "interrupted"), ``epoch`` (epochs completed), ``best``
        (best validation top-1 accuracy), ``out`` (the run folder).

    Files in ``config.out``: ``last.pt``, ``best.pt``, ``steps.csv``, ``epochs.csv``,
    ``config.toml``-equivalent inside every checkpoint (key ``config``).
    """
    from models.resnet import build_model

    rank, local_rank, world = _distributed()
    device = _device(config, local_rank)
    out = Path(config.out)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    train_set, val_set = datasets if datasets is not None else datasets_from_config(config)
    labels = [sample.label for sample in train_set.samples]
    if min(labels) < 0 or max(labels) >= config.num_classes:
        raise InputError(f"expected every training image to have a class label in "
                         f"[0, {config.num_classes}), got labels from {min(labels)} to "
                         f"{max(labels)}", path=config.train or None, field="label")
    with torch.random.fork_rng(devices=[]):  # initial weights from the seed, global RNG untouched
        torch.manual_seed(config.seed)
        model = build_model(config.arch, config.num_classes, config.gala_variant,
                            config.gala_reduction, config.tiny_width)
    if config.init_weights:
        if not Path(config.init_weights).is_file():
            raise InputError("initial weights not found", path=config.init_weights,
                             field="init_weights")
        state = torch.load(config.init_weights, map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=False)
    model.to(device)
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    model.to(memory_format=memory_format)
    layers = list(config.layers) or attention_layers(model)
    optimizer = build_optimizer(model, config)
    scaler = torch.amp.GradScaler(device.type, enabled=config.amp == "fp16")
    start_epoch, start_batch, step, best, sums = 0, 0, 0, -1.0, {}
    if resume and (out / "last.pt").is_file():
        state = load_checkpoint(out / "last.pt")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        start_epoch, start_batch, step = state["epoch"], state["batch"], state["step"]
        best, sums = state["best"], state["sums"]
    elif rank == 0:  # a fresh run starts fresh logs
        for name in ("steps.csv", "epochs.csv"):
            (out / name).unlink(missing_ok=True)
    net = model
    if world > 1:
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    if config.compile:
        net = torch.compile(net)
    loss_options = dict(interpolation=config.interpolation, reduction=config.reduction,
                        normalisation=config.normalisation, distance=config.distance,
                        combine=config.combine)
    log = _Log(out, rank == 0)
    stop = {"now": False}
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True)) \
        if _main_thread() else None

    def checkpoint(epoch: int, batch: int) -> None:
        if rank == 0:
            save_checkpoint(out / "last.pt", {
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scaler": scaler.state_dict(), "epoch": epoch, "batch": batch, "step": step,
                "best": best, "sums": sums, "config": dataclasses.asdict(config)})

    status = "finished"
    autocast = _autocast(device, config.amp)
    steps_per_epoch = math.ceil(math.ceil(len(train_set) / world) / config.batch_size)
    try:
        with record_layers(model, layers) as seen:
            for epoch in range(start_epoch, config.epochs):
                train_set.set_epoch(epoch)
                sampler = EpochSampler(len(train_set), config.seed, epoch, rank, world,
                                       start_batch, config.batch_size)
                loader = torch.utils.data.DataLoader(
                    train_set, batch_size=config.batch_size, sampler=sampler,
                    num_workers=config.workers, pin_memory=device.type == "cuda",
                    persistent_workers=False)
                net.train()
                from tqdm import tqdm
                bar = tqdm(loader, desc=f"epoch {epoch + 1}/{config.epochs}", unit="batch",
                           initial=start_batch, total=steps_per_epoch,
                           disable=not (config.progress and rank == 0))
                tick = time.perf_counter()
                lr = learning_rate(config, epoch + start_batch / steps_per_epoch, world)
                for batch_index, batch in enumerate(bar, start_batch):
                    lr = learning_rate(config, epoch + batch_index / steps_per_epoch, world)
                    for group in optimizer.param_groups:
                        group["lr"] = lr
                    images = batch["image"].to(device, non_blocking=True).contiguous(
                        memory_format=memory_format)
                    labels = batch["label"].to(device, non_blocking=True)
                    with autocast:
                        logits = net(images)
                    parts = clickme_loss(logits, labels, [seen[n] for n in layers],
                                         batch["map"].to(device), batch["has_map"].to(device),
                                         config.lam, **loss_options)
                    optimizer.zero_grad(set_to_none=True)
                    scaler.scale(parts["loss"]).backward()
                    scaler.step(optimizer)
                    scaler.update()
                    step += 1
                    n = len(labels)
                    correct = (logits.argmax(1) == labels).sum().item()
                    for key, value in (("loss", parts["loss"].item() * n),
                                       ("cross_entropy", parts["cross_entropy"].item() * n),
                                       ("attention", parts["attention"].item() * n),
                                       ("correct", correct), ("n", n)):
                        sums[key] = sums.get(key, 0.0) + value
                    if step % config.log_every == 0:
                        now = time.perf_counter()
                        log.write("steps.csv", STEP_COLUMNS, {
                            "epoch": epoch, "step": step, "lr": lr,
                            "loss": parts["loss"].item(),
                            "cross_entropy": parts["cross_entropy"].item(),
                            "attention": parts["attention"].item(),
                            "images_per_s": n * world * config.log_every / max(now - tick, 1e-9)},
                            step)
                        tick = now
                    bar.set_postfix(loss=f"{parts['loss'].item():.3f}", lr=f"{lr:.3g}")
                    if on_step is not None:
                        on_step(step)
                    if _agree(stop["now"], world, device):
                        checkpoint(epoch, batch_index + 1)
                        status = "interrupted"
                        return {"status": status, "epoch": epoch, "best": best, "out": out}
                bar.close()
                start_batch = 0
                count = max(sums.get("n", 0.0), 1)
                log.write("epochs.csv", EPOCH_COLUMNS, {
                    "epoch": epoch + 1, "split": "train", "loss": sums.get("loss", 0) / count,
                    "cross_entropy": sums.get("cross_entropy", 0) / count,
                    "attention": sums.get("attention", 0) / count,
                    "accuracy": sums.get("correct", 0) / count, "map_alignment": float("nan"),
                    "lr": lr}, epoch + 1)
                sums = {}
                if val_set is not None and rank == 0:
                    metrics = validate(model, val_set, layers, config, device, loss_options)
                    log.write("epochs.csv", EPOCH_COLUMNS,
                              {"epoch": epoch + 1, "split": "val", "lr": lr, **metrics}, epoch + 1)
                    if metrics["accuracy"] > best:
                        best = metrics["accuracy"]
                        save_checkpoint(out / "best.pt", {
                            "model": model.state_dict(), "epoch": epoch + 1, "best": best,
                            "config": dataclasses.asdict(config)})
                checkpoint(epoch + 1, 0)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        log.close()
        if world > 1:
            import torch.distributed as dist

            dist.destroy_process_group()
    if rank == 0 and val_set is None:  # no validation: the last weights are the kept ones
        save_checkpoint(out / "best.pt", {"model": model.state_dict(), "epoch": config.epochs,
                                          "best": best, "config": dataclasses.asdict(config)})
    return {"status": status, "epoch": config.epochs, "best": best, "out": out}


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _agree(flag: bool, world: int, device) -> bool:
    """Whether any rank asked to stop (so that all ranks stop at the same step)."""
    if world <= 1:
        return flag
    import torch.distributed as dist

    tensor = torch.tensor([float(flag)], device=device)
    dist.all_reduce(tensor)
    return bool(tensor.item() > 0)


def validate(model, dataset, layers, config: TrainConfig, device, loss_options) -> dict:
    """Loss, accuracy and mean map alignment (Spearman) of ``model`` on ``dataset``."""
    loader = torch.utils.data.DataLoader(dataset, batch_size=config.batch_size,
                                         num_workers=config.workers)
    frame, model_maps, human_maps = evaluate(model, loader, layers, lam=config.lam,
                                             device=device, amp=config.amp,
                                             channels_last=config.channels_last,
                                             loss_options=loss_options)
    has = frame["has_map"].to_numpy(bool)
    rho = map_alignment(model_maps[has], human_maps[has]) if has.any() else np.array([np.nan])
    ce = float(frame["cross_entropy"].mean())
    attention = float(frame["distance"].mean()) if has.any() else 0.0
    return {"loss": ce + config.lam * attention, "cross_entropy": ce, "attention": attention,
            "accuracy": float(frame["top1_correct"].mean()),
            "map_alignment": float(np.nanmean(rho)) if np.isfinite(rho).any() else float("nan")}


def sweep(config: TrainConfig, key: str, values: list, datasets=None, resume: bool = False,
          n_permutations: int = 200, ceiling: float = 0.58) -> pd.DataFrame:
    """Train one run per value of ``key`` (in ``<out>/<key>=<value>``) and score each on val.

    Returns
    -------
    DataFrame
        One row per run: ``<key>, top1_err, fraction_human, ceiling, null_floor, rho_mean,
        p_value, top5_err, out`` (also written to ``<out>/sweep.csv``).
    """
    from models.score import score_model

    rows = []
    for value in values:
        run = config.replace(**{key: value, "out": str(Path(config.out) / f"{key}={value}")})
        result = train(run, datasets, resume=resume)
        val = (datasets[1] if datasets is not None else datasets_from_config(run)[1])
        if val is None:
            raise InputError("a sweep needs a validation set to score", field="val")
        model, _ = model_from_checkpoint(Path(result["out"]) / "best.pt")
        _, summary = score_model(model, val, f"{key}={value}", batch_size=run.batch_size,
                                 ceiling=ceiling, n_permutations=n_permutations, seed=run.seed)
        rows.append({"lambda" if key == "lam" else key: value, **summary.iloc[0].drop("model"),
                     "out": str(result["out"])})
    table = pd.DataFrame(rows)
    Path(config.out).mkdir(parents=True, exist_ok=True)
    table.to_csv(Path(config.out) / "sweep.csv", index=False)
    return table
