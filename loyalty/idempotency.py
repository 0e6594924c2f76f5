"""Idempotency keys: a retried write returns its first result and has no second effect."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from loyalty.errors import DomainError
from loyalty.shops.models import IdempotencyRecord

Result = dict[str, Any]


def request_hash(payload: Any) -> str:
    """A stable fingerprint of a request body, so a reused key with a new body is caught."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replay(record: IdempotencyRecord, digest: str) -> Result:
    if record.request_hash != digest:
        raise DomainError(
            "IDEMPOTENCY_KEY_REUSED",
            "this idempotency key was already used with a different request",
            "idempotencyKey",
        )
    return record.result


async def run_once(
    shop_id: int,
    operation: str,
    key: str | None,
    payload: Any,
    action: Callable[[], Awaitable[Result]],
) -> Result:
    """Run `action` at most once per (shop, operation, key) and remember its result.

    The record is written in the same transaction as the action's effects, so a
    concurrent duplicate fails on the unique key and rolls its own effects back.
    Failed actions (domain errors) are not remembered: nothing happened, so a retry
    is evaluated afresh.
    """
    if not key:
        return await action()
    digest = request_hash(payload)
    found = await IdempotencyRecord.get_or_none(shop_id=shop_id, operation=operation, key=key)
    if found is not None:
        return _replay(found, digest)
    try:
        async with in_transaction():
            result = await action()
            await IdempotencyRecord.create(
                shop_id=shop_id, operation=operation, key=key, request_hash=digest, result=result
            )
    except IntegrityError:
        found = await IdempotencyRecord.get_or_none(shop_id=shop_id, operation=operation, key=key)
        if found is None:
            raise
        return _replay(found, digest)
    return result
