"""Dramatiq actors for the scheduled programme jobs; thin, they call loyalty.programme.jobs.

Per-shop actors do the work; fan-out actors enqueue one per shop, so one slow or
failing shop never holds up the others and each retries on its own. Delivery is at
least once and every job is idempotent, so running any of them twice is harmless.
`dramatiq loyalty.workers.actors` (what `loyalty worker` runs) imports this module.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import dramatiq
from tortoise.exceptions import DoesNotExist

from loyalty.programme import jobs
from loyalty.shops.models import Shop
from loyalty.workers.broker import broker

QUEUE = "programme"
log = logging.getLogger(__name__)

Job = Callable[[int], Awaitable[jobs.JobReport]]


def _per_shop(name: str, job: Job) -> dramatiq.Actor:
    """An actor that runs `job` for one shop. A shop deleted meanwhile is not retried."""

    async def run(shop_id: int) -> None:
        report = await job(shop_id)
        log.info("%s shop=%s %s", name, shop_id, report)

    return dramatiq.actor(
        run,
        actor_name=name,
        queue_name=QUEUE,
        broker=broker,
        max_retries=5,
        throws=(DoesNotExist,),
    )


def _fan_out(name: str, per_shop: dramatiq.Actor) -> dramatiq.Actor:
    """An actor that enqueues `per_shop` once for every shop."""

    async def run() -> None:
        shop_ids = await Shop.all().order_by("id").values_list("id", flat=True)
        for shop_id in shop_ids:
            per_shop.send(shop_id)
        log.info("%s enqueued %d shops", name, len(shop_ids))

    return dramatiq.actor(run, actor_name=name, queue_name=QUEUE, broker=broker, max_retries=5)


confirm_pending_points = _per_shop("confirm_pending_points", jobs.confirm_pending)
expire_points = _per_shop("expire_points", jobs.expire_points)
reevaluate_tiers = _per_shop("reevaluate_tiers", jobs.reevaluate_tiers)

confirm_pending_points_all_shops = _fan_out(
    "confirm_pending_points_all_shops", confirm_pending_points
)
expire_points_all_shops = _fan_out("expire_points_all_shops", expire_points)
reevaluate_tiers_all_shops = _fan_out("reevaluate_tiers_all_shops", reevaluate_tiers)

ACTORS = (
    confirm_pending_points,
    expire_points,
    reevaluate_tiers,
    confirm_pending_points_all_shops,
    expire_points_all_shops,
    reevaluate_tiers_all_shops,
)
