"""The Starlette app: /graphql for shoppers and merchants, /healthz for load balancers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from strawberry.asgi import GraphQL

from loyalty import db
from loyalty.config import Settings
from loyalty.consent.pages import consent_routes
from loyalty.graphql.context import Context, build_context
from loyalty.graphql.schema import build_schema
from loyalty.integrations import webhooks
from loyalty.integrations.models import Platform
from loyalty.messaging.inbound_routes import twilio_routes

Enqueue = Callable[[int], None]


def _enqueue_with_worker(delivery_id: int) -> None:
    from loyalty.workers.webhooks import process_webhook

    process_webhook.send(delivery_id)


class GraphQLApp(GraphQL):
    """Strawberry's ASGI app with our per-request context."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            build_schema(settings),
            graphql_ide=None if settings.production else "graphiql",
            allow_queries_via_get=False,
        )
        self.settings = settings

    async def get_context(self, request: Request, response: Any) -> Context:  # type: ignore[override]
        return await build_context(request, response, self.settings)


async def healthz(_: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


def webhook_endpoint(platform: Platform, enqueue: Enqueue):
    """POST /webhooks/<platform>/{shop}: verify and store, then hand to a worker."""

    async def receive(request: Request) -> JSONResponse:
        receipt = await webhooks.receive(
            request.path_params["shop"], platform, request.headers, await request.body()
        )
        if receipt.delivery_id is not None:
            enqueue(receipt.delivery_id)
        return JSONResponse({"message": receipt.message}, status_code=receipt.status_code)

    return receive


def create_app(
    settings: Settings, *, manage_db: bool = True, enqueue: Enqueue = _enqueue_with_worker
) -> Starlette:
    """The ASGI app; with `manage_db` its lifespan opens and closes the database.

    Production mode refuses the public development secret: with it anyone could sign
    unsubscribe links for any customer.

    `enqueue` hands a stored webhook delivery to the workers (tests pass their own).
    """
    if settings.production and settings.secret_key == Settings.secret_key:
        raise ValueError("LOYALTY_SECRET_KEY must be set in production mode")

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if manage_db:
            await db.init(settings.database_url)
        try:
            yield
        finally:
            if manage_db:
                await db.close()

    graphql_app = GraphQLApp(settings)
    return Starlette(
        routes=[
            Route("/graphql", graphql_app, methods=["GET", "POST"]),
            Route("/healthz", healthz),
            *consent_routes(settings),
            *twilio_routes(),
            *(
                Route(
                    f"/webhooks/{platform.value}/{{shop}}",
                    webhook_endpoint(platform, enqueue),
                    methods=["POST"],
                )
                for platform in Platform
            ),
        ],
        lifespan=lifespan,
    )
