"""Replacing one of the app's composed services for a test, through FastAPI's dependency overrides."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable

from fastapi import FastAPI

from bff.api.deps import Services, services


def override_pages(app: FastAPI, pages: object) -> Callable[[], Awaitable[Services]]:
    """Makes every route of `app` see `pages` as its page service (the other services stay the composed ones);
    returns the override, for `monkeypatch.setitem` to undo."""
    replaced: Services = dataclasses.replace(app.state.services, pages=pages)

    async def services_with_pages() -> Services:
        return replaced

    app.dependency_overrides[services] = services_with_pages
    return services_with_pages
