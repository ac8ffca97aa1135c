"""Settings of ``clickme serve``: one frozen dataclass (a ``[serve]`` TOML table or CLI options).

The tasks themselves are configured by the lab versions' files: ``experiment_config`` is the
rapid-categorization TOML of ``clickme experiment run`` (same trial design, Latin square and
stimulus manifest) and ``game_config`` the TOML of ``clickme game`` (same timing, bubbles and
partner settings), with the same images, labels and partner checkpoint.
"""

from __future__ import annotations

import dataclasses
from dataclasses import field
from pathlib import Path

DEFAULT_DB = "sqlite:///online.db"
#: Settings that name files; relative ones in a TOML file are taken from the file's folder
PATH_FIELDS = ("experiment_config", "game_config", "images", "labels", "partner", "classes")


@dataclasses.dataclass(frozen=True)
class ServeConfig:
    """Settings of one ``clickme serve`` deployment.

    Parameters
    ----------
    experiment_config : str
        Experiment TOML (``clickme experiment run --config``); empty: no experiment is served.
    game_config : str
        Game TOML (``clickme game --config``); empty: the game's defaults.
    images, labels : str
        Game images folder (``<image_id>.png``) and ``labels.csv``; empty: no game is served.
    partner : str
        Partner checkpoint written by ``clickme train``; empty: the stand-in partner.
    classes : str
        Class names of the checkpoint, one per line (default: the sorted labels).
    device : str
        Torch device of the partner network.
    standin_threshold : float
        Stand-in partner: share of its reference map that must be revealed.
    db : str
        SQLAlchemy database URL (SQLite file by default; ``postgresql+psycopg://...``).
    host, port : str, int
        Address to listen on (``0.0.0.0`` behind a reverse proxy; loopback by default).
    workers : int
        uvicorn worker processes (use PostgreSQL when > 1).
    admin_token : str
        Token of the admin pages and the HTTP export; empty: a random one is made and printed.
    completion_code : str
        Code shown at the end (recruitment platforms check it); empty: none.
    completion_url : str
        Page the participant is sent to at the end; ``{code}`` is replaced by the code.
    min_refresh_hz, max_refresh_hz : float
        Browsers whose measured refresh rate lies outside this range are refused.
    public_url : str
        Base URL printed for participants (default ``http://host:port``).
    """

    experiment_config: str = ""
    game_config: str = ""
    images: str = ""
    labels: str = ""
    partner: str = ""
    classes: str = ""
    device: str = "cpu"
    standin_threshold: float = field(default=0.3, metadata={"gt": 0, "max": 1})
    db: str = DEFAULT_DB
    host: str = "127.0.0.1"
    port: int = field(default=8000, metadata={"min": 0, "max": 65535})
    workers: int = field(default=1, metadata={"min": 1, "max": 64})
    admin_token: str = ""
    completion_code: str = ""
    completion_url: str = ""
    min_refresh_hz: float = field(default=50.0, metadata={"gt": 0})
    max_refresh_hz: float = field(default=300.0, metadata={"gt": 0})
    public_url: str = ""

    def to_dict(self) -> dict:
        """Plain-JSON form (what worker processes receive)."""
        return dataclasses.asdict(self)


def load_serve_config(source=None, overrides=None) -> ServeConfig:
    """Read serve settings from a TOML file (top level or a ``[serve]`` table) or a dict.

    Examples
    --------
    >>> load_serve_config({"experiment_config": "experiment.toml", "port": 8123}).port
    8123
    >>> load_serve_config({"experiment_config": "experiment.toml", "port": -1})
    Traceback (most recent call last):
    ...
    clickme_analysis.errors.InputError: field 'port': expected a value >= 0, got -1
    """
    from clickme_analysis.config import load_config
    from clickme_analysis.errors import InputError

    config = load_config(ServeConfig, source, sections=("serve",),
                         overrides={k: v for k, v in (overrides or {}).items() if v is not None})
    if source is not None and not isinstance(source, dict):  # a file's relative paths: from its folder
        base = Path(source).resolve().parent
        given = set(overrides or {})
        config = dataclasses.replace(config, **{
            k: str(base / getattr(config, k)) for k in PATH_FIELDS
            if getattr(config, k) and k not in given and not Path(getattr(config, k)).is_absolute()})
    if config.min_refresh_hz > config.max_refresh_hz:
        raise InputError(f"expected max_refresh_hz >= min_refresh_hz ({config.min_refresh_hz}), got "
                         f"{config.max_refresh_hz}", field="max_refresh_hz")
    if not config.experiment_config and not config.images:
        raise InputError("nothing to serve: give an experiment config and/or game images and labels",
                         field="experiment_config")
    if bool(config.images) != bool(config.labels):
        raise InputError("the game needs both images and labels", field="labels" if config.images else "images")
    return config
