"""Where training runs: the process's rank in a torchrun job, the device, and the checks of
device options (a machine that cannot run an option says what to use instead)."""

from __future__ import annotations

import os
import shutil
import threading

import torch

from clickme_analysis.errors import InputError
from models.config import TrainConfig


def distributed_ranks() -> tuple[int, int, int]:
    """(rank, local rank, world size) of this process; joins the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 0, 1
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), int(os.environ.get("LOCAL_RANK", "0")), world


def check_device_options(config: TrainConfig, cuda_available: bool | None = None) -> None:
    """Refuse options this machine cannot run, with a message saying what to use instead."""
    cuda = torch.cuda.is_available() if cuda_available is None else cuda_available
    if config.device == "cuda" and not cuda:
        raise InputError(
            f"device = 'cuda' but no CUDA GPU is available (torch {torch.__version__}); use device = 'auto' or 'cpu'",
            field="device",
        )
    on_cpu = config.device == "cpu" or not cuda
    if config.amp == "fp16" and on_cpu:
        raise InputError(
            "amp = 'fp16' needs a CUDA GPU (float16 autocast with a GradScaler); on CPU use amp = 'bf16' or 'none'",
            field="amp",
        )
    if config.compile:
        from torch import _dynamo

        if not _dynamo.is_dynamo_supported():
            raise InputError(
                "compile = true but torch.compile is not supported with this Python / torch build; set compile = false",
                field="compile",
            )
        if on_cpu and not (shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")):
            raise InputError(
                "compile = true on CPU needs a C++ compiler (c++, g++ or clang++) "
                "on PATH; install one or set compile = false",
                field="compile",
            )


def training_device(config: TrainConfig, local_rank: int) -> torch.device:
    """The device of this rank (options checked by :func:`check_device_options`)."""
    check_device_options(config)
    if config.device == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device(f"cuda:{local_rank}")


def on_main_thread() -> bool:
    """Whether this is the main thread (only it can install signal handlers)."""
    return threading.current_thread() is threading.main_thread()


def any_rank(flag: bool, world: int, device) -> bool:
    """Whether any rank asked to stop (so that all ranks stop at the same step)."""
    if world <= 1:
        return flag
    import torch.distributed as dist

    tensor = torch.tensor([float(flag)], device=device)
    dist.all_reduce(tensor)
    return bool(tensor.item() > 0)
