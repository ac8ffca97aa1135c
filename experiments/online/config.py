"""Settings of ``clickme serve``: one frozen dataclass (a ``[serve]`` TOML table or CLI options).

The tasks themselves are configured by the lab versions' files: ``experiment_config`` is the
rapid-categorization TOML of ``clickme experiment run`` (same trial design, Latin square and
stimulus manifest) and ``game_config`` the TOML of ``clickme game`` (same timing, bubbles and
partner settings), with the same images, labels and partner checkpoint.
"""

from __future__ import annotations

import dataclasses
import math
import string
from dataclasses import field
from pathlib import Path

from clickme_analysis.config import load_config
from clickme_analysis.errors import InputError

DEFAULT_DB = "sqlite:///online.db"
#: Settings that name files; relative ones in a TOML file are taken from the file's folder
PATH_FIELDS = ("experiment_config", "game_config", "images", "labels", "partner", "classes", "allow_list")
#: The least strength of an admin token (bits, as :func:`token_bits` estimates it)
MIN_TOKEN_BITS = 128


def token_bits(token: str) -> float:
    """Upper bound of a token's strength: its length times log2 of the alphabet its character
    classes span (lower case, upper case, digits, ``-_``, anything else).

    Examples
    --------
    >>> round(token_bits("study2026"))
    47
    >>> token_bits("abcdefgh" * 2) < 128 <= token_bits("0123456789abcdef" * 2)
    True
    """
    classes = ((string.ascii_lowercase, 26), (string.ascii_uppercase, 26), (string.digits, 10), ("-_", 2))
    size = sum(n for chars, n in classes if any(c in chars for c in token))
    size += 32 if any(not any(c in chars for chars, _ in classes) for c in token) else 0
    return len(token) * math.log2(size) if size > 1 else 0.0


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
        Token of the admin pages and the HTTP export, at least 128 bits strong (e.g.
        ``secrets.token_urlsafe(24)``); empty: a random one is made and printed once.
    completion_code, game_completion_code : str
        Codes shown at the end of the experiment and of the game (recruitment platforms check
        them; they must differ); empty: none.
    completion_url : str
        Page the participant is sent to at the end; ``{code}`` is replaced by the code.
    allow_list : str
        File of the participant ids allowed to start, one per line; empty: anyone.
    hold_minutes : float
        A session that stores no trial or round within this time of its start releases its
        counterbalancing index (so do sessions whose browser check is refused).
    pacing_factor : float
        A completed experiment whose trials arrived faster than this share of the design's own
        minimum timing is flagged (0: no check).
    max_body_bytes : int
        Largest request body (413 beyond; the largest real post, 5,000 points, is ~150 kB).
    header_timeout_s, body_timeout_s : float
        Time a connection may take to send a request head, and a request body.
    start_limit_per_minute : int
        ``/start`` calls allowed per client address and minute (0: no limit).
    access_log : bool
        Log each request (address, method, path without query string, status, time) to stderr.
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
    game_completion_code: str = ""
    completion_url: str = ""
    min_refresh_hz: float = field(default=50.0, metadata={"gt": 0})
    max_refresh_hz: float = field(default=300.0, metadata={"gt": 0})
    public_url: str = ""
    allow_list: str = ""
    hold_minutes: float = field(default=20.0, metadata={"gt": 0})
    pacing_factor: float = field(default=0.8, metadata={"min": 0, "max": 1})
    max_body_bytes: int = field(default=262_144, metadata={"min": 1024, "max": 64 * 2**20})
    header_timeout_s: float = field(default=10.0, metadata={"gt": 0})
    body_timeout_s: float = field(default=10.0, metadata={"gt": 0})
    start_limit_per_minute: int = field(default=30, metadata={"min": 0})
    access_log: bool = False

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
    config = load_config(
        ServeConfig,
        source,
        sections=("serve",),
        overrides={k: v for k, v in (overrides or {}).items() if v is not None},
    )
    if source is not None and not isinstance(source, dict):  # a file's relative paths: from its folder
        base = Path(source).resolve().parent
        given = set(overrides or {})
        config = dataclasses.replace(
            config,
            **{
                k: str(base / getattr(config, k))
                for k in PATH_FIELDS
                if getattr(config, k) and k not in given and not Path(getattr(config, k)).is_absolute()
            },
        )
    if config.min_refresh_hz > config.max_refresh_hz:
        raise InputError(
            f"expected max_refresh_hz >= min_refresh_hz ({config.min_refresh_hz}), got {config.max_refresh_hz}",
            field="max_refresh_hz",
        )
    if not config.experiment_config and not config.images:
        raise InputError(
            "nothing to serve: give an experiment config and/or game images and labels", field="experiment_config"
        )
    if bool(config.images) != bool(config.labels):
        raise InputError("the game needs both images and labels", field="labels" if config.images else "images")
    if config.admin_token and token_bits(config.admin_token) < MIN_TOKEN_BITS:
        raise InputError(
            f"expected an admin token of at least {MIN_TOKEN_BITS} bits (e.g. 32 random letters and "
            f"digits: python -c 'import secrets; print(secrets.token_urlsafe(24))'), got one of "
            f"{len(config.admin_token)} characters (~{token_bits(config.admin_token):.0f} bits)",
            field="admin_token",
        )
    if config.completion_code and config.completion_code == config.game_completion_code:
        raise InputError(
            "expected different completion codes for the experiment and the game (a code must "
            "prove which task was done)",
            field="game_completion_code",
        )
    return config


def read_allow_list(path) -> frozenset:
    """The participant ids of an allow-list file (one per line; blank lines and ``#`` comments skipped)."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read the allow-list: {err}", path=path, field="allow_list") from None
    ids = frozenset(line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#"))
    if not ids:
        raise InputError("the allow-list names no participant id", path=path, field="allow_list")
    return ids
