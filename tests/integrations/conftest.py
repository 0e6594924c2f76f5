"""Fixture readers for the shop payloads in ../shared/fixtures (the root conftest finds them)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from loyalty.integrations.payloads import load_json


@pytest.fixture
def raw(fixtures_dir: Path) -> Callable[[str], bytes]:
    """A fixture file's bytes, untouched, as a webhook body would arrive."""
    return lambda name: (fixtures_dir / name).read_bytes()


@pytest.fixture
def payload(raw: Callable[[str], bytes]) -> Callable[[str], dict[str, Any]]:
    """A freshly parsed copy of a fixture, safe for a test to edit."""
    return lambda name: load_json(raw(name))
