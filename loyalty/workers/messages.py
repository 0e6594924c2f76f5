"""Dramatiq actors that send messages; thin, they call loyalty.messaging.service.

`send_message(message_id)` claims the row (QUEUED or due DEFERRED to SENDING) before
the provider call, so a redelivered task never sends twice. A retryable provider error
(429, 5xx, timeouts, SMTP 4xx) is retried with exponential backoff, at least as long
as the provider's Retry-After asks; a permanent one is recorded and never retried.
When the retries run out, `send_message_exhausted` marks the message FAILED.

`release_due_messages` (for the scheduler, e.g. every minute) re-enqueues DEFERRED
messages whose time has come and QUEUED ones that were never enqueued.

Channels are built per shop from the environment (`loyalty.messaging.providers`),
sharing one httpx client per worker event loop. Tests replace `channels_for`.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import dramatiq
import httpx
from tortoise.exceptions import DoesNotExist

from loyalty import clock
from loyalty.channels import RetryableSendError
from loyalty.errors import NotFound
from loyalty.messaging import policy, service
from loyalty.messaging.models import Message
from loyalty.messaging.providers import ProviderSettings, build_channels
from loyalty.workers.broker import broker

QUEUE = "messages"
MAX_RETRIES = 8
MIN_BACKOFF_MS = 2_000
MAX_BACKOFF_MS = 5 * 60 * 1_000
HTTP_TIMEOUT = httpx.Timeout(15.0, connect=5.0)
log = logging.getLogger(__name__)

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
    weakref.WeakKeyDictionary()
)


def _http() -> httpx.AsyncClient:
    """One pooled client per event loop (a worker runs every async actor on one loop)."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None or client.is_closed:
        client = httpx.AsyncClient(timeout=HTTP_TIMEOUT)
        _clients[loop] = client
    return client


async def channels_from_env(shop_id: int) -> service.Channels:
    settings = await policy.settings_for(shop_id)
    return build_channels(ProviderSettings.from_env(), settings, _http())


#: shop id -> the channel adapters for its messages; tests swap this.
channels_for: Callable[[int], Awaitable[service.Channels]] = channels_from_env


def _retry_delay(actor: dramatiq.Actor, retry_after: float | None) -> int | None:
    if retry_after is None:
        return None  # Dramatiq's exponential backoff
    low = actor.options.get("min_backoff", MIN_BACKOFF_MS)
    high = actor.options.get("max_backoff", MAX_BACKOFF_MS)
    return int(min(max(retry_after * 1000, low), high))


async def _send_message_exhausted(message: dict[str, Any], retries: dict[str, Any]) -> None:
    """The last attempt of `send_message` failed with a retryable error: give up."""
    message_id = message["args"][0]
    if await service.give_up(message_id, f"retries exhausted after {retries.get('retries')}"):
        log.warning("message %s: retries exhausted, now failed", message_id)


send_message_exhausted = dramatiq.actor(
    _send_message_exhausted,
    actor_name="send_message_exhausted",
    queue_name=QUEUE,
    broker=broker,
    max_retries=MAX_RETRIES,
)


async def _send_message(message_id: int) -> None:
    shop_id = await Message.filter(id=message_id).first().values_list("shop_id", flat=True)
    if shop_id is None:
        raise DoesNotExist(f"message {message_id} does not exist")
    channels = await channels_for(shop_id)
    try:
        status = await service.deliver(message_id, channels)
    except RetryableSendError as exc:
        delay = _retry_delay(send_message, exc.retry_after)
        raise dramatiq.Retry(str(exc), delay=delay) from exc
    log.info("message %s: %s", message_id, status)


send_message = dramatiq.actor(
    _send_message,
    actor_name="send_message",
    queue_name=QUEUE,
    broker=broker,
    max_retries=MAX_RETRIES,
    min_backoff=MIN_BACKOFF_MS,
    max_backoff=MAX_BACKOFF_MS,
    throws=(DoesNotExist, NotFound),
    on_retry_exhausted=send_message_exhausted.actor_name,
)


async def release_deferred(now: datetime | None = None) -> list[int]:
    """Enqueue every message that is due (see `service.due_messages`); returns their ids."""
    ids = await service.due_messages(now or clock.now())
    for message_id in ids:
        send_message.send(message_id)
    return ids


async def _release_due_messages() -> None:
    ids = await release_deferred()
    if ids:
        log.info("re-enqueued %d due messages", len(ids))


release_due_messages = dramatiq.actor(
    _release_due_messages,
    actor_name="release_due_messages",
    queue_name=QUEUE,
    broker=broker,
    max_retries=3,
)

ACTORS = (send_message, send_message_exhausted, release_due_messages)
