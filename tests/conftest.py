"""Shared fixtures: database URLs for both backends.

PostgreSQL comes from ``TISA_TEST_POSTGRES_URL`` (``make test`` starts a throwaway server).
Under CI a missing URL fails the run; locally the PostgreSQL cases skip with the reason.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tisa.config import is_ci, postgres_test_url


def _admin_url() -> str:
    url = postgres_test_url()
    if url is None:
        if is_ci():
            pytest.fail("CI=true but TISA_TEST_POSTGRES_URL is not set: PostgreSQL is required")
        pytest.skip("TISA_TEST_POSTGRES_URL not set; run `make test` for the PostgreSQL cases")
    return url


@pytest.fixture
def postgres_admin_url() -> str:
    """The throwaway server's URL, for tests that create databases of their own."""
    return _admin_url()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    admin = _admin_url()
    name = "tisa_" + secrets.token_hex(6)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = admin.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tisa.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # Loopback servers must never go through a proxy from the environment.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
