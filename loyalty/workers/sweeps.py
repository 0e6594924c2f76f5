"""A periodic safety net: work whose task was lost (a crash between commit and enqueue)
is sent again. Every target actor is idempotent, so an extra send changes nothing.
Inbound texts (STOP, START) whose processing failed are processed again here, in place,
since Twilio never resends them."""

from __future__ import annotations

import logging
from datetime import timedelta

import dramatiq

from loyalty.integrations import voucher_push, webhooks
from loyalty.messaging import inbound
from loyalty.workers.broker import broker
from loyalty.workers.vouchers import push_voucher_to_shop
from loyalty.workers.webhooks import process_webhook

QUEUE = "sweeps"
DELIVERY_GRACE = timedelta(minutes=5)
INBOUND_GRACE = timedelta(minutes=5)
# Longer than a push's whole retry schedule (8 retries, at most 5 minutes apart).
VOUCHER_GRACE = timedelta(hours=1)
log = logging.getLogger(__name__)


async def _resend_stalled_work() -> None:
    deliveries = await webhooks.stalled(DELIVERY_GRACE)
    for delivery_id in deliveries:
        process_webhook.send(delivery_id)
    vouchers = await voucher_push.stalled(VOUCHER_GRACE)
    for voucher_id in vouchers:
        push_voucher_to_shop.send(voucher_id)
    if deliveries or vouchers:
        log.warning("re-sent %d webhook deliveries, %d vouchers", len(deliveries), len(vouchers))
    retried = await inbound.retry_failed_inbound(INBOUND_GRACE)
    if retried:
        log.warning("processed %d failed inbound messages again", len(retried))


resend_stalled_work = dramatiq.actor(
    _resend_stalled_work, actor_name="resend_stalled_work", queue_name=QUEUE, broker=broker
)
