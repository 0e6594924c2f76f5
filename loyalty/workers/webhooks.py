"""Actor that processes stored webhook deliveries; thin, it calls the integrations service."""

from __future__ import annotations

import dramatiq

from loyalty.integrations import webhooks
from loyalty.workers.broker import broker


@dramatiq.actor(queue_name="webhooks", broker=broker, max_retries=5)
async def process_webhook(delivery_id: int) -> None:
    """Safe to run twice: a processed delivery is skipped."""
    await webhooks.process(delivery_id)
