"""Settings from the environment, read in one place."""

from __future__ import annotations

import os
from dataclasses import dataclass, field


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    """Process-wide settings; every value comes from an environment variable."""

    database_url: str = "sqlite://loyalty.sqlite3"
    broker_url: str | None = None
    production: bool = False
    secret_key: str = field(default="dev-insecure-secret", repr=False)
    max_page_size: int = 100
    max_query_depth: int = 10
    max_aliases: int = 30
    max_tokens: int = 2000

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            database_url=env.get("DATABASE_URL") or cls.database_url,
            broker_url=env.get("BROKER_URL") or None,
            production=_bool(env.get("LOYALTY_PRODUCTION")),
            secret_key=env.get("LOYALTY_SECRET_KEY") or cls.secret_key,
        )


def get_settings() -> Settings:
    return Settings.from_env()
