"""Checkpoints: save, load (refusing anything that could run code) and rebuild the trained network.

Everything needed to load a trained model and nothing of the training loop:
:func:`model_from_checkpoint` is what scoring, explanations, alignment and the game's model
partner call. Checkpoints hold tensors and plain values only and are read with
``weights_only=True``; they are written atomically (:func:`clickme_analysis.fileio.atomic_write`).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
from torch import nn

from clickme_analysis.errors import InputError
from clickme_analysis.fileio import atomic_write
from models.config import TrainConfig, config_from_dict
from models.networks import network_from_config, upgrade_state_dict

CHECKPOINT_FORMAT = "clickme-models-checkpoint/1"

__all__ = ["CHECKPOINT_FORMAT", "save_checkpoint", "load_checkpoint", "model_from_checkpoint"]


def save_checkpoint(path, state: dict) -> None:
    """Write a checkpoint atomically (tensors and plain values only)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as fh:
        torch.save({"format": CHECKPOINT_FORMAT, **state}, fh)


def load_checkpoint(path) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`, refusing anything that could run code.

    ``torch.load(weights_only=True)``: only tensors, numbers, strings and containers unpickle;
    a checkpoint holding any other object is refused with an :class:`InputError` before that
    object is built. The model's state dict is in today's layout (:func:`upgrade_state_dict`:
    checkpoints of the former toolkit ResNet module load).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("checkpoint not found", path=path)
    with open(path, "rb") as fh:
        start = fh.read(16)
    if not (start.startswith(b"PK\x03\x04") or start.startswith(b"\x80")):  # torch.save: zip, or legacy pickle
        raise InputError(
            f"expected a torch checkpoint (a file written by torch.save), got one starting {start!r}", path=path
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(
            "refused: the checkpoint holds objects other than tensors and plain "
            f"values, which could run code when loaded ({first[:200]})",
            path=path,
        ) from None
    except Exception as err:  # torch raises many types on a corrupt file
        raise InputError(f"cannot read checkpoint: {err}", path=path) from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise InputError(f"expected a {CHECKPOINT_FORMAT} checkpoint", path=path, field="format")
    if isinstance(state.get("model"), dict):
        state["model"] = upgrade_state_dict(state["model"])
    return state


def model_from_checkpoint(path, device="cpu") -> tuple[nn.Module, TrainConfig]:
    """Rebuild the network of a checkpoint (``last.pt`` or ``best.pt``) with its weights."""
    state = load_checkpoint(path)
    try:
        config = config_from_dict(state["config"])
    except (KeyError, TypeError, InputError) as err:
        raise InputError(f"the checkpoint's configuration is not valid: {err}", path=path, field="config") from None
    model = network_from_config(config)
    model.load_state_dict(state["model"])
    return model.to(device).eval(), config
