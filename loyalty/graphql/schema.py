"""The one schema for shoppers and merchants, with the limits every request runs under."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    DisableIntrospection,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig

from loyalty.config import Settings
from loyalty.graphql.mutations import Mutation
from loyalty.graphql.pagination import MAX_PAGE_SIZE
from loyalty.graphql.permissions import PublicError
from loyalty.graphql.queries import Query


def _should_mask(error: GraphQLError) -> bool:
    """Hide internal failures; keep validation, permission and our own public errors."""
    original = error.original_error
    if original is None or isinstance(error, PublicError):
        return False
    return not isinstance(original, PublicError | GraphQLError)


def build_schema(settings: Settings) -> strawberry.Schema:
    extensions: list = [
        lambda: MaskErrors(should_mask_error=_should_mask),
        ParserCache,
        ValidationCache,
        lambda: QueryDepthLimiter(max_depth=settings.max_query_depth),
        lambda: MaxAliasesLimiter(max_alias_count=settings.max_aliases),
        lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
    ]
    if settings.production:
        extensions.append(DisableIntrospection)
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        extensions=extensions,
        config=StrawberryConfig(
            relay_max_results=MAX_PAGE_SIZE,
            disable_field_suggestions=settings.production,
        ),
    )
