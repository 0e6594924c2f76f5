from pathlib import Path

from loyalty.graphql.export import sdl


def test_schema_graphql_matches_code():
    """schema.graphql is the exported SDL; re-export with `python -m loyalty.graphql.export`."""
    committed = (Path(__file__).resolve().parents[2] / "schema.graphql").read_text()
    assert committed == sdl(), "schema.graphql is stale: run python -m loyalty.graphql.export"
