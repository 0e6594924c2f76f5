"""The Starlette app: /graphql for shoppers and merchants, /healthz for load balancers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from strawberry.asgi import GraphQL

from loyalty import db
from loyalty.config import Settings
from loyalty.graphql.context import Context, build_context
from loyalty.graphql.schema import build_schema


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


def create_app(settings: Settings, *, manage_db: bool = True) -> Starlette:
    """The ASGI app; with `manage_db` its lifespan opens and closes the database."""

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
        ],
        lifespan=lifespan,
    )
