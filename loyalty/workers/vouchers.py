"""Dramatiq actors that push redeemed vouchers into the shop; thin, they call voucher_push.

`push_voucher_to_shop` retries with exponential backoff while the shop says "later"
(429, 5xx, throttling, no answer), waiting at least as long as its Retry-After asks.
When the retries run out, Dramatiq sends the message to `voucher_push_exhausted`,
which fails the voucher and gives its points back, so none stays PENDING for ever.
Delivery is at least once; pushing a voucher that is no longer PENDING does nothing.

`withdraw_voucher_from_shop` deletes a cancelled voucher's discount from the shop, with
the same retries. A push that created the code of a voucher cancelled meanwhile
answers `WITHDRAW`, and the push actors then send the withdrawal.
"""

from __future__ import annotations

import logging
from typing import Any

import dramatiq
from tortoise.exceptions import DoesNotExist

from loyalty.integrations import voucher_push
from loyalty.messaging import notices
from loyalty.messaging.models import MessageStatus
from loyalty.programme.models import VoucherStatus
from loyalty.workers.broker import broker

QUEUE = "vouchers"
MAX_RETRIES = 8
MIN_BACKOFF_MS = 1_000
MAX_BACKOFF_MS = 5 * 60 * 1_000
log = logging.getLogger(__name__)


async def _voucher_push_exhausted(message: dict[str, Any], retries: dict[str, Any]) -> None:
    """The last attempt of `push_voucher_to_shop` failed: fail the voucher, points back.

    One more push first: an attempt that timed out may have created the code after all,
    and the shop's "code already exists" then proves it live, so the points stay spent.
    """
    voucher_id = message["args"][0]
    try:
        status = await voucher_push.push_voucher(voucher_id)
    except voucher_push.RetryablePushError:
        status = await voucher_push.fail_voucher(
            voucher_id,
            f"the shop did not accept the code after {retries.get('retries')} retries",
        )
    log.warning("voucher %s: push retries exhausted, now %s", voucher_id, status)
    if status == VoucherStatus.FAILED:
        await _tell_shopper(voucher_id)
    elif status == voucher_push.WITHDRAW:
        withdraw_voucher_from_shop.send(voucher_id)


async def _tell_shopper(voucher_id: int) -> None:
    """The shopper hears that the code failed and the points are back (sent once)."""
    from loyalty.workers.messages import send_message

    message = await notices.voucher_failed(voucher_id)
    if message is not None and message.status == MessageStatus.QUEUED:
        send_message.send(message.id)


voucher_push_exhausted = dramatiq.actor(
    _voucher_push_exhausted,
    actor_name="voucher_push_exhausted",
    queue_name=QUEUE,
    broker=broker,
    max_retries=MAX_RETRIES,
    min_backoff=MIN_BACKOFF_MS,
    max_backoff=MAX_BACKOFF_MS,
)


def _retry(exc: voucher_push.RetryablePushError) -> dramatiq.Retry:
    """Dramatiq's retry, waiting at least as long as the shop's Retry-After asks."""
    delay = None
    if exc.retry_after is not None:
        delay = min(max(int(exc.retry_after * 1000), MIN_BACKOFF_MS), MAX_BACKOFF_MS)
    return dramatiq.Retry(str(exc), delay=delay)


async def _withdraw_voucher_from_shop(voucher_id: int) -> None:
    try:
        outcome = await voucher_push.withdraw_voucher(voucher_id)
    except voucher_push.RetryablePushError as exc:
        raise _retry(exc) from exc
    log.info("voucher %s: withdrawal %s", voucher_id, outcome)


withdraw_voucher_from_shop = dramatiq.actor(
    _withdraw_voucher_from_shop,
    actor_name="withdraw_voucher_from_shop",
    queue_name=QUEUE,
    broker=broker,
    max_retries=MAX_RETRIES,
    min_backoff=MIN_BACKOFF_MS,
    max_backoff=MAX_BACKOFF_MS,
)


async def _push_voucher_to_shop(voucher_id: int) -> None:
    try:
        status = await voucher_push.push_voucher(voucher_id)
    except voucher_push.RetryablePushError as exc:
        raise _retry(exc) from exc
    log.info("voucher %s: %s", voucher_id, status)
    if status == VoucherStatus.FAILED:
        await _tell_shopper(voucher_id)
    elif status == voucher_push.WITHDRAW:
        withdraw_voucher_from_shop.send(voucher_id)


push_voucher_to_shop = dramatiq.actor(
    _push_voucher_to_shop,
    actor_name="push_voucher_to_shop",
    queue_name=QUEUE,
    broker=broker,
    max_retries=MAX_RETRIES,
    min_backoff=MIN_BACKOFF_MS,
    max_backoff=MAX_BACKOFF_MS,
    throws=(DoesNotExist,),
    on_retry_exhausted=voucher_push_exhausted.actor_name,
)

ACTORS = (push_voucher_to_shop, voucher_push_exhausted, withdraw_voucher_from_shop)
