from __future__ import annotations

import pytest

from bff.errors import ConfigurationError
from bff.settings import Settings

BASE = {
    "PRODUCT_SERVICE_URL": "https://product.internal/",
    "REVIEW_SERVICE_URL": "http://127.0.0.1:8082",
    "INVENTORY_SERVICE_URL": "https://inventory.internal/v1",
}


def test_reads_service_urls_and_defaults_from_the_environment() -> None:
    settings = Settings.from_env(BASE)
    assert settings.service_urls() == {
        "product": "https://product.internal",
        "reviews": "http://127.0.0.1:8082",
        "inventory": "https://inventory.internal/v1",
    }
    assert settings.page_deadline_ms == 500
    assert settings.max_response_bytes == 1024 * 1024


def test_reads_budgets_from_the_environment() -> None:
    settings = Settings.from_env({**BASE, "PAGE_DEADLINE_MS": "800", "REVIEW_TIMEOUT_MS": "120"})
    assert (settings.page_deadline_ms, settings.review_timeout_ms) == (800, 120)


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"PRODUCT_SERVICE_URL": "product.internal"}, "PRODUCT_SERVICE_URL"),
        ({"REVIEW_SERVICE_URL": "ftp://reviews.internal"}, "REVIEW_SERVICE_URL"),
        ({"INVENTORY_SERVICE_URL": "https://inventory.internal/?debug=1"}, "INVENTORY_SERVICE_URL"),
        ({"PAGE_DEADLINE_MS": "0"}, "PAGE_DEADLINE_MS"),
        ({"PAGE_DEADLINE_MS": "31000"}, "PAGE_DEADLINE_MS"),
        ({"PRODUCT_TIMEOUT_MS": "soon"}, "PRODUCT_TIMEOUT_MS"),
        ({"API_BASE_PATH": "shop"}, "API_BASE_PATH"),
        ({"API_BASE_PATH": "/shop/"}, "API_BASE_PATH"),
        ({"API_BASE_PATH": "/"}, "API_BASE_PATH"),
        ({"API_BASE_PATH": "/a//b"}, "API_BASE_PATH"),
    ],
)
def test_invalid_configuration_fails_at_start_naming_the_variable(overrides: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigurationError, match=named):
        Settings.from_env({**BASE, **overrides})


def test_missing_service_url_fails_at_start() -> None:
    environ = {key: value for key, value in BASE.items() if key != "REVIEW_SERVICE_URL"}
    with pytest.raises(ConfigurationError, match="REVIEW_SERVICE_URL"):
        Settings.from_env(environ)


@pytest.mark.parametrize("base_path", ["", "/shop", "/v1/shop"])
def test_api_base_path_is_empty_or_a_path_without_trailing_slash(base_path: str) -> None:
    assert Settings.from_env({**BASE, "API_BASE_PATH": base_path}).api_base_path == base_path
    assert Settings.from_env(BASE).api_base_path == ""
