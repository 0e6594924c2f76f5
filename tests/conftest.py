"""Test databases: one backend per pytest run, chosen by TEST_BACKEND (sqlite or postgres).

The whole suite runs on SQLite; `scripts/test` then runs the tests marked `both_dbs`
(ledger, concurrency) again with TEST_BACKEND=postgres. One backend per process,
because Tortoise caches SQL dialect details on the model classes. The database is
migrated once per run with the real migrations; every test starts from empty tables.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tortoise.contrib.test import truncate_all_models

from loyalty import clock, db

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL")
REQUIRE_SERVICES = os.environ.get("LOYALTY_REQUIRE_SERVICES") == "1"
_migrated: set[str] = set()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "both_dbs: run on SQLite and on PostgreSQL")


@pytest.fixture(scope="session")
def backend() -> str:
    return os.environ.get("TEST_BACKEND", "sqlite")


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite://{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"


async def _reset_postgres(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()


@pytest.fixture
async def database_url(backend: str, sqlite_url: str) -> AsyncIterator[str]:
    """A migrated, empty database of the requested backend, with Tortoise connected."""
    if backend == "postgres":
        if not POSTGRES_URL:
            if REQUIRE_SERVICES:
                pytest.fail("TEST_POSTGRES_URL is required in CI")
            pytest.skip("PostgreSQL not configured (set TEST_POSTGRES_URL)")
        url = POSTGRES_URL
    else:
        url = sqlite_url
    if url not in _migrated:
        if backend == "postgres":
            await _reset_postgres(url)
        await db.migrate(url)
        await db.close()
        _migrated.add(url)
    await db.init(url)
    await truncate_all_models()
    try:
        yield url
    finally:
        clock.set_now(None)
        await db.close()


@pytest.fixture
def fixtures_dir() -> Path:
    """Real third-party payloads shipped beside the repository."""
    here = Path(__file__).resolve().parents[1]
    for candidate in (here.parent / "shared" / "fixtures", here / "shared" / "fixtures"):
        if candidate.is_dir():
            return candidate
    pytest.fail("../shared/fixtures not found")
