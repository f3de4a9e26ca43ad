from __future__ import annotations

from bff.config.services import variable
from bff.config.settings import Settings
from tests.support.fake_downstream import SERVICE_HOSTS


def settings_for(urls: dict[str, str] | None = None, **overrides: object) -> Settings:
    """Settings as from the environment: `urls` by service name (fake hosts for the rest), `overrides` by variable
    name in lower case."""
    every_service = {**SERVICE_HOSTS, **(urls or {})}
    values: dict[str, object] = {variable(service, "base_url"): url for service, url in every_service.items()}
    values.update({key.upper(): value for key, value in overrides.items()})
    return Settings.model_validate(values)
