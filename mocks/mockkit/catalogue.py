"""The fixture catalogue every mock serves: ids P001 to P100. Any other id is unknown (404)."""

from __future__ import annotations

FIXTURE_IDS = frozenset(f"P{number:03d}" for number in range(1, 101))
