"""`loyalty integrations ...` and `loyalty webhooks ...` through main(), on their own file.

Synchronous like the real command: main() runs its own event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from loyalty import db
from loyalty.cli import main
from loyalty.integrations import webhooks
from loyalty.integrations.models import DeliveryStatus, Integration, Platform, WebhookDelivery
from loyalty.programme.models import Order
from loyalty.shops.service import create_shop

SECRET = "s3cret-webhook-value-xyz"
TOKEN = "shpat_0123456789abcdef"


def run(url: str, work: Callable[[], Awaitable[Any]]) -> Any:
    async def wrapped() -> Any:
        await db.init(url)
        try:
            return await work()
        finally:
            await db.close()

    return asyncio.run(wrapped())


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite://{tmp_path / 'cli.sqlite3'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.delenv("BROKER_URL", raising=False)

    async def migrate() -> None:
        await db.migrate(url)
        await db.close()

    asyncio.run(migrate())
    return url


@pytest.fixture
def shop(url: str) -> str:
    async def work() -> str:
        shop = await create_shop("Hooks", currency="USD")
        return shop.public_id

    return run(url, work)


def store(url: str, shop: str, body: str, topic: str = "orders/create", **fields: Any) -> int:
    """A delivery as receive() stores it, already failed once."""

    async def work() -> int:
        from loyalty.shops.models import Shop

        owner = await Shop.get(public_id=shop)
        await Integration.get_or_create(shop=owner, platform=Platform.SHOPIFY)
        row = await WebhookDelivery.create(
            shop=owner,
            platform=Platform.SHOPIFY,
            topic=topic,
            delivery_id=f"d-{topic}-{len(body)}-{fields.get('attempts', 1)}",
            body=body,
            status=fields.pop("status", DeliveryStatus.FAILED),
            error=fields.pop("error", "RuntimeError: database went away"),
            attempts=fields.pop("attempts", 1),
            **fields,
        )
        return row.id

    return run(url, work)


def test_set_reads_secrets_from_the_environment_and_never_prints_them(
    url, shop, capsys, monkeypatch
):
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    monkeypatch.setenv("ADMIN_TOKEN", TOKEN)
    argv = ["integrations", "set", shop, "shopify", "--address", "tea.myshopify.com"]
    argv += ["--webhook-secret-env", "HOOK_SECRET", "--api-token-env", "ADMIN_TOKEN"]
    assert main(argv) == 0
    printed = capsys.readouterr()
    assert "webhook secret: set" in printed.out
    assert "Shopify Admin API token: set" in printed.out
    assert "address: tea.myshopify.com" in printed.out
    assert f"/webhooks/shopify/{shop}" in printed.out
    assert SECRET not in printed.out + printed.err and TOKEN not in printed.out + printed.err

    stored = run(url, lambda: Integration.get(shop__public_id=shop, platform=Platform.SHOPIFY))
    assert (stored.webhook_secret, stored.api_token) == (SECRET, TOKEN)

    # What is not given stays as it was.
    assert main(["integrations", "set", shop, "shopify", "--address", "tea2.myshopify.com"]) == 0
    assert "webhook secret: set" in capsys.readouterr().out
    stored = run(url, lambda: Integration.get(shop__public_id=shop, platform=Platform.SHOPIFY))
    assert (stored.address, stored.webhook_secret, stored.api_token) == (
        "tea2.myshopify.com",
        SECRET,
        TOKEN,
    )

    argv = ["integrations", "set", shop, "woocommerce", "--address", "https://tea.example/"]
    assert main(argv) == 0
    assert "WooCommerce consumer key: not set" in capsys.readouterr().out

    assert main(["integrations", "list", shop]) == 0
    printed = capsys.readouterr().out
    assert SECRET not in printed and TOKEN not in printed
    assert printed.index("shopify") < printed.index("woocommerce")
    assert "address: https://tea.example" in printed
    assert f"/webhooks/woocommerce/{shop}" in printed
    assert printed.count(": set") == 2 and printed.count("not set") == 3


def test_set_errors_are_one_line(url, shop, capsys, monkeypatch):
    argv = ["integrations", "set", shop, "shopify", "--address", "tea.example.com"]
    assert main(argv) == 1
    assert "myshopify.com" in capsys.readouterr().err
    assert run(url, lambda: Integration.all().count()) == 0

    assert main(["integrations", "set", "nope", "shopify"]) == 1
    assert "no shop with public id 'nope'" in capsys.readouterr().err

    monkeypatch.delenv("MISSING_VAR", raising=False)
    argv = ["integrations", "set", shop, "shopify", "--webhook-secret-env", "MISSING_VAR"]
    assert main(argv) == 1
    assert "MISSING_VAR" in capsys.readouterr().err

    monkeypatch.setenv("KEY", "ck_1")
    assert main(["integrations", "set", shop, "shopify", "--consumer-key-env", "KEY"]) == 1
    assert "is for woocommerce" in capsys.readouterr().err

    with pytest.raises(SystemExit) as exit_:
        main(["integrations", "set", shop, "magento"])
    assert exit_.value.code == 2
    assert "invalid choice" in capsys.readouterr().err

    assert main(["integrations", "list", shop]) == 0
    assert "no connections" in capsys.readouterr().out


def test_replay_processes_a_failed_delivery(url, shop, capsys, fixtures_dir):
    body = (fixtures_dir / "shopify_order_webhook_body.json").read_text(encoding="utf-8")
    delivery = store(url, shop, body)

    assert main(["webhooks", "replay", shop]) == 0
    printed = capsys.readouterr().out
    assert f"{delivery} orders/create → processed" in printed
    assert "Replayed 1 deliveries: 1 processed" in printed

    row = run(url, lambda: WebhookDelivery.get(id=delivery))
    assert row.status == DeliveryStatus.PROCESSED and row.attempts == 2 and row.error is None
    assert run(url, lambda: Order.exists(external_id="450789469"))

    assert main(["webhooks", "replay"]) == 0
    assert "No failed deliveries to replay." in capsys.readouterr().out


def test_replay_reports_failures_and_carries_on(url, shop, capsys, fixtures_dir, monkeypatch):
    body = (fixtures_dir / "shopify_order_webhook_body.json").read_text(encoding="utf-8")
    broken = store(url, shop, "{not json")
    crashing = store(url, shop, body)
    processed = store(url, shop, body, topic="orders/paid", status=DeliveryStatus.PROCESSED)

    async def down(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("database went away again")

    monkeypatch.setattr(webhooks.orders, "record_order", down)
    assert main(["webhooks", "replay", "--id", str(crashing), "--id", str(broken)]) == 1
    printed = capsys.readouterr().out
    assert f"{broken} orders/create → failed (" in printed
    assert f"{crashing} orders/create → failed (RuntimeError: database went away again)" in printed
    assert "Replayed 2 deliveries: 2 failed" in printed
    assert run(url, lambda: WebhookDelivery.get(id=crashing)).attempts == 2

    assert main(["webhooks", "replay", "--id", str(processed), "--id", "999"]) == 1
    printed = capsys.readouterr().out
    assert f"{processed} orders/paid: skipped, it is processed (not failed)" in printed
    assert "999: no such delivery" in printed

    assert main(["webhooks", "replay", "nope"]) == 1
    assert "no shop with public id 'nope'" in capsys.readouterr().err


def test_list_deliveries(url, shop, capsys, fixtures_dir):
    assert main(["webhooks", "list"]) == 0
    assert "No deliveries." in capsys.readouterr().out

    body = (fixtures_dir / "shopify_order_webhook_body.json").read_text(encoding="utf-8")
    failed = store(url, shop, body, error="PayloadError: line\nbreak")
    waiting = store(
        url, shop, body, topic="refunds/create", status=DeliveryStatus.WAITING, error="order 1"
    )

    assert main(["webhooks", "list", shop]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "id",
        "platform",
        "topic",
        "status",
        "tries",
        "received",
        "(UTC)",
        "error",
    ]
    assert lines[1].split()[:5] == [str(waiting), "shopify", "refunds/create", "waiting", "1"]
    assert lines[2].split()[:5] == [str(failed), "shopify", "orders/create", "failed", "1"]
    assert lines[2].endswith("PayloadError: line break")

    assert main(["webhooks", "list", "--status", "failed", "--limit", "1"]) == 0
    printed = capsys.readouterr().out
    assert shop in printed and "orders/create" in printed and "refunds/create" not in printed

    assert main(["webhooks", "list", "--limit", "1"]) == 0
    assert "1 of 2 shown" in capsys.readouterr().out

    assert main(["webhooks", "list", "--limit", "0"]) == 1
    assert "--limit" in capsys.readouterr().err


def test_set_prompts_hidden_for_secrets(url, shop, capsys, monkeypatch):
    answers = iter(["ck_key", ""])  # consumer key; an empty consumer secret keeps it unset
    asked: list[str] = []

    def fake_getpass(prompt: str) -> str:
        asked.append(prompt)
        return next(answers)

    monkeypatch.setattr("getpass.getpass", fake_getpass)
    monkeypatch.setenv("HOOK_SECRET", "whsec")
    argv = ["integrations", "set", shop, "woocommerce", "--webhook-secret-env", "HOOK_SECRET"]
    assert main([*argv, "--prompt"]) == 0
    assert [p.split(" (")[0] for p in asked] == [
        "WooCommerce consumer key",
        "WooCommerce consumer secret",
    ]
    printed = capsys.readouterr().out
    assert "ck_key" not in printed and "whsec" not in printed
    stored = run(url, lambda: Integration.get(shop__public_id=shop))
    assert (stored.webhook_secret, stored.api_key, stored.api_secret) == ("whsec", "ck_key", "")
