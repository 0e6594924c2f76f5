"""The `loyalty` command through main(), each test on its own fresh SQLite file.

These tests are synchronous: main() runs its own event loop, as the real command does.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from loyalty import db
from loyalty.cli import main, prepare
from loyalty.config import Settings
from loyalty.customers.models import Customer
from loyalty.demo import DEMO_CUSTOMER, DEMO_SHOP_NAME
from loyalty.shops.models import Shop
from loyalty.shops.service import authenticate_api_key, authenticate_customer_token


def query(url: str, work: Callable[[], Awaitable[Any]]) -> Any:
    async def run() -> Any:
        await db.init(url)
        try:
            return await work()
        finally:
            await db.close()

    return asyncio.run(run())


@pytest.fixture
def fresh_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite://{tmp_path / 'cli.sqlite3'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.delenv("BROKER_URL", raising=False)
    monkeypatch.delenv("LOYALTY_PRODUCTION", raising=False)
    return url


@pytest.fixture(scope="module")
def migrated_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrate once per module; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "migrated.sqlite3"

    async def migrate() -> None:
        await db.migrate(f"sqlite://{path}")
        await db.close()

    asyncio.run(migrate())
    return path


@pytest.fixture
def url(fresh_url: str, migrated_file: Path) -> str:
    shutil.copy(migrated_file, fresh_url.removeprefix("sqlite://"))
    return fresh_url


def created_shop(capsys: pytest.CaptureFixture[str], name: str = "Tea Ltd") -> str:
    assert main(["shops", "create", name]) == 0
    printed = capsys.readouterr().out
    return re.search(r"Public id.*\n\s+(\w+)", printed).group(1)


def test_migrate_creates_the_schema_in_a_fresh_file(fresh_url, tmp_path, capsys):
    assert not (tmp_path / "cli.sqlite3").exists()
    assert main(["migrate"]) == 0
    assert "up to date" in capsys.readouterr().out
    assert query(fresh_url, lambda: Shop.all().count()) == 0


def test_shops_create_prints_public_id_and_storefront_secret(url, capsys):
    assert main(["shops", "create", "Tea Ltd", "--currency", "gbp"]) == 0
    printed = capsys.readouterr().out
    shop = query(url, lambda: Shop.get(name="Tea Ltd"))
    assert shop.currency == "GBP"
    assert shop.public_id in printed and shop.storefront_secret in printed


def test_keys_create_prints_a_working_key_once(url, capsys):
    public_id = created_shop(capsys)
    assert main(["keys", "create", public_id, "--name", "till", "--scopes", "read"]) == 0
    secret = re.search(r"lk_\S+", capsys.readouterr().out).group(0)
    key = query(url, lambda: authenticate_api_key(secret))
    assert (key.name, key.scopes, key.shop.public_id) == ("till", ["read"], public_id)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["keys", "create", "nope"], "no shop with public id 'nope'"),
        (["tokens", "mint", "nope", "c1"], "no shop with public id 'nope'"),
        (["shops", "create", " "], "shop name must not be empty"),
        (["shops", "create", "X", "--currency", "pounds"], "3-letter ISO 4217"),
    ],
)
def test_expected_errors_are_one_line_without_traceback(url, capsys, argv, message):
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert message in captured.err
    assert "Traceback" not in captured.err + captured.out


def test_bad_scopes_are_refused(url, capsys):
    public_id = created_shop(capsys)
    assert main(["keys", "create", public_id, "--scopes", "read,admin"]) == 1
    assert "scopes must be among read, write" in capsys.readouterr().err


def test_tokens_mint_signs_with_the_storefront_secret(url, capsys):
    public_id = created_shop(capsys)
    assert main(["tokens", "mint", public_id, "c-42", "--ttl-minutes", "30"]) == 0
    token = re.search(r"Bearer (\S+)", capsys.readouterr().out).group(1)
    shop, customer_id = query(url, lambda: authenticate_customer_token(token))
    assert (shop.public_id, customer_id) == (public_id, "c-42")
    assert main(["tokens", "mint", public_id, "c-42", "--ttl-minutes", "1441"]) == 1


def test_a_database_that_was_never_migrated_gets_a_hint(fresh_url, capsys):
    assert main(["shops", "create", "Tea Ltd"]) == 1
    assert "loyalty migrate" in capsys.readouterr().err


def test_check_balances_passes_then_catches_a_mismatch(url, capsys):
    settings = Settings(database_url=url)
    asyncio.run(prepare(settings, migrate=False, demo=True, seed_if_empty=False))
    assert main(["check-balances"]) == 0
    assert "OK" in capsys.readouterr().out

    async def corrupt() -> str:
        await Customer.filter(external_id=DEMO_CUSTOMER).update(points_balance=1)
        return (await Shop.get(name=DEMO_SHOP_NAME)).public_id

    public_id = query(url, corrupt)
    assert main(["check-balances", public_id]) == 1
    captured = capsys.readouterr()
    assert "MISMATCH" in captured.err and public_id in captured.out
    assert main(["check-balances", "nope"]) == 1


def test_first_embedded_start_migrates_and_seeds_the_demo_once(fresh_url):
    settings = Settings(database_url=fresh_url)
    first = asyncio.run(prepare(settings, migrate=True, demo=False, seed_if_empty=True))
    assert first.created and first.api_key.startswith("lk_")
    again = asyncio.run(prepare(settings, migrate=True, demo=False, seed_if_empty=True))
    assert again is None
    forced = asyncio.run(prepare(settings, migrate=True, demo=True, seed_if_empty=False))
    assert not forced.created and forced.shop.id == first.shop.id

    async def seeded() -> tuple[Any, ...]:
        shop, customer_id = await authenticate_customer_token(first.customer_token)
        alice = await Customer.get(shop_id=shop.id, external_id=customer_id)
        await alice.fetch_related("tier")
        return await Shop.all().count(), alice.tier.name, alice.points_balance, alice.pending_points

    shops, tier, spendable, pending = query(fresh_url, seeded)
    assert (shops, tier) == (1, "Gold")
    assert spendable > 0 and pending > 0  # old orders confirmed, the latest still pending


def test_serve_migrates_seeds_and_runs_the_embedded_workers(fresh_url, capsys, monkeypatch):
    served: dict[str, Any] = {}

    def fake_run(app: Any, **options: Any) -> None:
        """Instead of serving: the app's lifespan (API db, worker, scheduler) and one request."""

        async def start_request_stop() -> None:
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                    served["health"] = (await client.get("/healthz")).json()

        served.update(options)
        asyncio.run(start_request_stop())

    monkeypatch.setattr("uvicorn.run", fake_run)
    assert main(["serve", "--port", "8123"]) == 0
    printed = capsys.readouterr().out
    assert "http://127.0.0.1:8123/graphql" in printed
    assert '"X-Api-Key": "lk_' in printed and '"Authorization": "Bearer ' in printed
    assert (served["port"], served["health"]) == (8123, {"status": "ok"})
    assert query(fresh_url, lambda: Shop.all().count()) == 1


def test_worker_and_scheduler_need_a_broker(fresh_url, capsys):
    assert main(["worker"]) == 1
    assert main(["scheduler", "--once"]) == 1
    assert "BROKER_URL is not set" in capsys.readouterr().err
