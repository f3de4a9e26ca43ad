from __future__ import annotations

from bff.settings import Settings
from tests.support.fake_downstream import SERVICE_HOSTS


def settings_for(urls: dict[str, str] | None = None, **overrides: object) -> Settings:
    urls = urls or SERVICE_HOSTS
    values: dict[str, object] = {
        "PRODUCT_SERVICE_URL": urls["product"],
        "REVIEW_SERVICE_URL": urls["reviews"],
        "INVENTORY_SERVICE_URL": urls["inventory"],
    }
    values.update({key.upper(): value for key, value in overrides.items()})
    return Settings.model_validate(values)
