"""`loyalty import ...` through argparse, against its own database file."""

from __future__ import annotations

import argparse
import asyncio

from loyalty import db
from loyalty.imports.cli import register
from loyalty.shops.service import create_shop


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="loyalty")
    register(parser.add_subparsers(dest="command", required=True))
    return parser


def _shop(url: str) -> str:
    async def work() -> str:
        await db.migrate(url)
        await db.close()
        await db.init(url)
        try:
            return (await create_shop("CLI shop")).public_id
        finally:
            await db.close()

    return asyncio.run(work())


def test_import_orders_and_members_from_the_command_line(tmp_path, monkeypatch, capsys):
    url = f"sqlite://{tmp_path / 'cli.sqlite3'}"
    monkeypatch.setenv("DATABASE_URL", url)
    shop = _shop(url)
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "order_id,email,subtotal,placed_at\n"
        "1,a@example.com,10.00,2024-01-01\n"
        "2,b@example.com,ten,2024-01-01\n"
        "3,c@example.com,5.00,2024-01-02T12:00:00+01:00\n",
        encoding="utf-8",
    )
    parser = _parser()

    args = parser.parse_args(["import", "orders", shop, str(orders)])
    assert args.handler(args) == 1
    printed = capsys.readouterr().out
    assert "line 3: subtotal: not a decimal amount: 'ten'" in printed
    assert "3 rows read: 2 imported, 0 skipped (already present), 1 failed" in printed

    args = parser.parse_args(["import", "orders", shop, str(orders), "--award-points"])
    assert args.handler(args) == 1
    assert "0 imported, 2 skipped" in capsys.readouterr().out

    members = tmp_path / "members.jsonl"
    members.write_text('{"email": "a@example.com", "points": 10}\n', encoding="utf-8")
    args = parser.parse_args(["import", "members", shop, str(members)])
    assert args.handler(args) == 0
    assert "1 rows read: 1 imported" in capsys.readouterr().out
