"""The Dramatiq broker, chosen by BROKER_URL, set globally before any actor is declared.

`redis://` and `rediss://` give a RedisBroker, `amqp://` and `amqps://` a RabbitmqBroker,
and no URL the embedded mode: a StubBroker that an in-process Worker consumes.
Every broker gets the AsyncIO middleware (the actors are async) and the Tortoise
middleware, which opens the worker's own database connections on that event loop.
"""

from __future__ import annotations

import dramatiq
from dramatiq import Broker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AsyncIO

from loyalty.config import get_settings
from loyalty.workers import BrokerConfigError
from loyalty.workers.database import TortoiseMiddleware


def build_broker(broker_url: str | None, database_url: str | None = None) -> Broker:
    """A broker for `broker_url` (embedded when None), with our middleware in order.

    The Tortoise middleware comes after AsyncIO so that, at worker boot, the event
    loop it opens connections on is already running; it reads DATABASE_URL then,
    unless `database_url` is given.
    """
    broker: Broker
    scheme = (broker_url or "").partition("://")[0].lower()
    if not broker_url:
        broker = StubBroker()
    elif scheme in {"redis", "rediss"}:
        from dramatiq.brokers.redis import RedisBroker

        broker = RedisBroker(url=broker_url)
    elif scheme in {"amqp", "amqps"}:
        try:
            from dramatiq.brokers.rabbitmq import RabbitmqBroker
        except ImportError as exc:
            raise BrokerConfigError(
                "BROKER_URL is amqp:// but pika is missing: pip install 'dramatiq[rabbitmq]'"
            ) from exc
        broker = RabbitmqBroker(url=broker_url)
    else:
        raise BrokerConfigError(
            f"BROKER_URL must start with redis://, rediss://, amqp:// or amqps://, not {scheme!r}"
        )
    broker.add_middleware(AsyncIO())
    broker.add_middleware(TortoiseMiddleware(database_url))
    return broker


def _install() -> Broker:
    settings = get_settings()
    installed = build_broker(settings.broker_url)
    dramatiq.set_broker(installed)
    return installed


#: The process's broker. Importing this module sets it as Dramatiq's global broker, so
#: `dramatiq loyalty.workers.actors` and the actors declared there agree on it.
broker = _install()
