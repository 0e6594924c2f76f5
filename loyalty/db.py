"""Tortoise setup and migrations (Tortoise's own migration engine, never generate_schemas)."""

from __future__ import annotations

from typing import Any

from tortoise import Tortoise
from tortoise.migrations.api.migrate import migrate as _migrate

MODEL_MODULES = [
    "loyalty.shops.models",
    "loyalty.customers.models",
    "loyalty.programme.models",
    "loyalty.integrations.models",
    "loyalty.consent.models",
    "loyalty.messaging.models",
]


def tortoise_config(database_url: str) -> dict[str, Any]:
    """The Tortoise config for one database URL; one app, `models`."""
    return {
        "connections": {"default": database_url},
        "apps": {
            "models": {
                "models": list(MODEL_MODULES),
                "default_connection": "default",
                "migrations": "loyalty.migrations",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


async def migrate(database_url: str) -> None:
    """Bring the database schema up to the latest migration."""
    await _migrate(config=tortoise_config(database_url))


async def init(database_url: str, *, run_migrations: bool = False) -> None:
    """Open connections; optionally migrate first (the embedded default does)."""
    if run_migrations:
        await migrate(database_url)
    await Tortoise.init(config=tortoise_config(database_url), _enable_global_fallback=True)


async def close() -> None:
    """Close connections and forget the model registry (a later init may use another DB)."""
    await Tortoise.close_connections()
    await Tortoise._reset_apps()


def _cli_config() -> dict[str, Any]:
    """Config for Tortoise's own CLI: `tortoise -c loyalty.db.TORTOISE_ORM makemigrations`."""
    import os

    return tortoise_config(os.environ.get("DATABASE_URL") or "sqlite://loyalty.sqlite3")


TORTOISE_ORM = _cli_config()
