"""Print the schema's SDL: `python -m loyalty.graphql.export > schema.graphql`."""

from __future__ import annotations

from strawberry.printer import print_schema

from loyalty.config import Settings
from loyalty.graphql.schema import build_schema


def sdl() -> str:
    return print_schema(build_schema(Settings())) + "\n"


if __name__ == "__main__":
    print(sdl(), end="")
