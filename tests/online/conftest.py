"""Fixtures of the online-collection tests: a tiny study, a throwaway PostgreSQL."""

from __future__ import annotations

import subprocess

import pytest


@pytest.fixture(scope="session")
def online_files(tmp_path_factory) -> dict:
    """:func:`experiments.online.simulate.write_tiny_study` in a session folder."""
    from experiments.online.simulate import write_tiny_study

    return write_tiny_study(tmp_path_factory.mktemp("online"))


@pytest.fixture(scope="session")
def postgres_url():
    """A throwaway PostgreSQL for the session; skips saying why when none can start."""
    from experiments.online.simulate import postgres_cluster

    try:
        with postgres_cluster() as url:
            yield url
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as err:
        pytest.skip(f"no PostgreSQL: {err}")
