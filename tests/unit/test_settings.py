from __future__ import annotations

import pytest

from bff.config.services import SERVICES, lookalike_settings, variable
from bff.config.settings import Settings
from bff.errors import ConfigurationError

BASE = {
    "PRODUCT_SERVICE_URL": "https://product.internal/",
    "REVIEWS_SERVICE_URL": "http://127.0.0.1:8082",
    "INVENTORY_SERVICE_URL": "https://inventory.internal/v1",
    "CART_SERVICE_URL": "https://cart.internal",
}


def test_reads_service_urls_and_defaults_from_the_environment() -> None:
    settings = Settings.from_env(BASE)
    assert settings.service_urls() == {
        "product": "https://product.internal",
        "reviews": "http://127.0.0.1:8082",
        "inventory": "https://inventory.internal/v1",
        "cart": "https://cart.internal",
    }
    assert settings.page_deadline_ms == 500
    assert settings.max_response_bytes == 1024 * 1024


def test_each_service_gets_its_declared_defaults() -> None:
    # Given only the URLs
    # When the settings are read
    services = Settings.from_env(BASE).services

    # Then each service has its own defaults: cache TTLs by how fast its data changes, an earlier inventory hedge
    assert {name: service.cache_ttl_s for name, service in services.items()} == {
        "product": 300,
        "reviews": 60,
        "inventory": 5,
        "cart": 0,
    }
    assert {name: service.hedge_delay_ms for name, service in services.items()} == {
        "product": 100,
        "reviews": 100,
        "inventory": 60,
        "cart": 0,
    }
    assert {service.timeout_ms for service in services.values()} == {450}
    assert {service.max_connections for service in services.values()} == {100}
    assert {name: service.batch_path for name, service in services.items()} == {
        "product": "/products",
        "reviews": "/reviews",
        "inventory": "/inventory",
        "cart": None,
    }
    assert {service.batch_max_ids for service in services.values()} == {50}


def test_an_empty_batch_path_variable_turns_batching_off_for_that_service() -> None:
    services = Settings.from_env({**BASE, "REVIEWS_BATCH_PATH": "", "PRODUCT_BATCH_MAX_IDS": "10"}).services
    assert services["reviews"].batch_path is None
    assert services["product"].batch_max_ids == 10


def test_a_batch_chunk_above_the_mocks_limit_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="PRODUCT_BATCH_MAX_IDS"):
        Settings.from_env({**BASE, "PRODUCT_BATCH_MAX_IDS": "101"})


def test_the_services_are_exactly_the_declared_ones() -> None:
    assert list(Settings.from_env(BASE).services) == list(SERVICES)


@pytest.mark.parametrize(
    ("suffix", "field", "value"),
    [
        ("TIMEOUT_MS", "timeout_ms", 120),
        ("HEDGE_DELAY_MS", "hedge_delay_ms", 33),
        ("MAX_CONNECTIONS", "max_connections", 7),
        ("CACHE_TTL_S", "cache_ttl_s", 17),
    ],
)
@pytest.mark.parametrize("service", ["product", "reviews", "inventory"])
def test_every_service_setting_follows_the_naming_rule(service: str, suffix: str, field: str, value: int) -> None:
    # Given one service's variable named {NAME}_{SUFFIX}
    environ = {**BASE, f"{service.upper()}_{suffix}": str(value)}

    # When the settings are read
    services = Settings.from_env(environ).services

    # Then that service, and only that one, takes the value
    assert getattr(services[service], field) == value
    others = [getattr(other, field) for name, other in services.items() if name != service]
    assert value not in others


@pytest.mark.parametrize(
    ("alias", "field", "value"),
    [("REVIEW_TIMEOUT_MS", "timeout_ms", 120), ("REVIEW_HEDGE_DELAY_MS", "hedge_delay_ms", 30)],
)
def test_the_former_review_names_still_work(alias: str, field: str, value: int) -> None:
    settings = Settings.from_env({**BASE, alias: str(value)})
    assert getattr(settings.services["reviews"], field) == value


def test_the_former_review_url_name_still_works() -> None:
    environ = {key: value for key, value in BASE.items() if key != "REVIEWS_SERVICE_URL"}
    settings = Settings.from_env({**environ, "REVIEW_SERVICE_URL": "https://reviews.internal"})
    assert settings.services["reviews"].base_url == "https://reviews.internal"


def test_max_connections_per_service_is_every_services_default_and_a_service_variable_beats_it() -> None:
    # Given the shared default and one service's own value
    environ = {**BASE, "MAX_CONNECTIONS_PER_SERVICE": "8", "INVENTORY_MAX_CONNECTIONS": "3"}

    # When the settings are read
    services = Settings.from_env(environ).services

    # Then the service's own variable wins, the others take the shared default
    assert {name: service.max_connections for name, service in services.items()} == {
        "product": 8,
        "reviews": 8,
        "inventory": 3,
        "cart": 8,
    }


@pytest.mark.parametrize(
    ("new", "alias"),
    [
        ("REVIEWS_SERVICE_URL", "REVIEW_SERVICE_URL"),
        ("REVIEWS_TIMEOUT_MS", "REVIEW_TIMEOUT_MS"),
        ("REVIEWS_HEDGE_DELAY_MS", "REVIEW_HEDGE_DELAY_MS"),
    ],
)
def test_a_name_and_its_alias_that_differ_fail_naming_both(new: str, alias: str) -> None:
    environ = {
        **BASE,
        new: "http://a.internal" if "URL" in new else "100",
        alias: "http://b.internal" if "URL" in alias else "200",
    }
    with pytest.raises(ConfigurationError, match=f"{new} and {alias}"):
        Settings.from_env(environ)


def test_a_name_and_its_alias_that_agree_are_accepted() -> None:
    settings = Settings.from_env({**BASE, "REVIEWS_TIMEOUT_MS": "120", "REVIEW_TIMEOUT_MS": "120"})
    assert settings.services["reviews"].timeout_ms == 120


def test_a_batch_may_use_the_whole_bulkhead_but_no_more() -> None:
    settings = Settings.from_env({**BASE, "BATCH_CONCURRENCY": "8", "BULKHEAD_MAX_IN_FLIGHT": "8"})
    assert (settings.batch_concurrency, settings.bulkhead_max_in_flight) == (8, 8)


def test_reads_budgets_from_the_environment() -> None:
    settings = Settings.from_env({**BASE, "PAGE_DEADLINE_MS": "800", "REVIEWS_TIMEOUT_MS": "120"})
    assert (settings.page_deadline_ms, settings.services["reviews"].timeout_ms) == (800, 120)


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"PRODUCT_SERVICE_URL": "product.internal"}, "PRODUCT_SERVICE_URL"),
        ({"REVIEWS_SERVICE_URL": "ftp://reviews.internal"}, "REVIEWS_SERVICE_URL"),
        ({"INVENTORY_SERVICE_URL": "https://inventory.internal/?debug=1"}, "INVENTORY_SERVICE_URL"),
        ({"PAGE_DEADLINE_MS": "0"}, "PAGE_DEADLINE_MS"),
        ({"PAGE_DEADLINE_MS": "31000"}, "PAGE_DEADLINE_MS"),
        ({"PRODUCT_TIMEOUT_MS": "soon"}, "PRODUCT_TIMEOUT_MS"),
        ({"REVIEW_TIMEOUT_MS": "soon"}, "REVIEW_TIMEOUT_MS"),
        ({"INVENTORY_HEDGE_DELAY_MS": "-1"}, "INVENTORY_HEDGE_DELAY_MS"),
        ({"PRODUCT_CACHE_TTL_S": "-1"}, "PRODUCT_CACHE_TTL_S"),
        ({"REVIEWS_MAX_CONNECTIONS": "0"}, "REVIEWS_MAX_CONNECTIONS"),
        ({"MAX_CONNECTIONS_PER_SERVICE": "0"}, "MAX_CONNECTIONS_PER_SERVICE"),
        ({"API_BASE_PATH": "shop"}, "API_BASE_PATH"),
        ({"API_BASE_PATH": "/shop/"}, "API_BASE_PATH"),
        ({"API_BASE_PATH": "/"}, "API_BASE_PATH"),
        ({"API_BASE_PATH": "/a//b"}, "API_BASE_PATH"),
        ({"BATCH_CONCURRENCY": "65"}, "BATCH_CONCURRENCY"),
        ({"BULKHEAD_MAX_IN_FLIGHT": "8"}, "BULKHEAD_MAX_IN_FLIGHT"),
    ],
)
def test_invalid_configuration_fails_at_start_naming_the_variable(overrides: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigurationError, match=named) as raised:
        Settings.from_env({**BASE, **overrides})
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("service", ["product", "reviews", "inventory"])
def test_missing_service_url_fails_at_start_naming_the_variable(service: str) -> None:
    environ = {key: value for key, value in BASE.items() if key != variable(service, "base_url")}
    with pytest.raises(ConfigurationError, match=variable(service, "base_url")):
        Settings.from_env(environ)


def test_environment_variables_lists_the_service_names_their_aliases_and_the_plain_settings() -> None:
    names = Settings.environment_variables()
    assert {"PRODUCT_SERVICE_URL", "REVIEWS_CACHE_TTL_S", "INVENTORY_MAX_CONNECTIONS"} <= set(names)
    assert {"REVIEW_SERVICE_URL", "REVIEW_TIMEOUT_MS", "REVIEW_HEDGE_DELAY_MS", "MAX_CONNECTIONS_PER_SERVICE"} <= set(
        names
    )
    assert {"PAGE_DEADLINE_MS", "API_BASE_PATH"} <= set(names)
    assert "REVIEW_CACHE_TTL_S" not in names


@pytest.mark.parametrize("base_path", ["", "/shop", "/v1/shop"])
def test_api_base_path_is_empty_or_a_path_without_trailing_slash(base_path: str) -> None:
    assert Settings.from_env({**BASE, "API_BASE_PATH": base_path}).api_base_path == base_path
    assert Settings.from_env(BASE).api_base_path == ""


def test_shaping_settings_have_their_documented_defaults() -> None:
    settings = Settings.from_env(BASE)
    assert settings.locales() == ["en-US", "de-DE", "fr-FR", "ja-JP"]
    assert (settings.low_stock_threshold, settings.default_currency) == (5, "USD")


@pytest.mark.parametrize(
    ("variable_name", "value"),
    [
        ("SUPPORTED_LOCALES", "en-US, de-DE"),
        ("SUPPORTED_LOCALES", "en_US"),
        ("SUPPORTED_LOCALES", ""),
        ("SUPPORTED_LOCALES", "en-US,en-US"),
        ("DEFAULT_CURRENCY", "usd"),
        ("DEFAULT_CURRENCY", "DOLLAR"),
        ("LOW_STOCK_THRESHOLD", "-1"),
    ],
)
def test_malformed_shaping_settings_fail_at_start_naming_the_variable(variable_name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=variable_name):
        Settings.from_env({**BASE, variable_name: value})


@pytest.mark.parametrize("locales", ["xx", "en-US,xx", "en-XX", "en-US,de-DE,qq-QQ"])
def test_a_locale_babel_has_no_data_for_fails_at_start_naming_it(locales: str) -> None:
    # Given a well-formed tag that Babel cannot format prices for (every priced page would be a 500)
    # When the settings are read, then the start fails in one line naming the variable and the tag
    with pytest.raises(ConfigurationError) as raised:
        Settings.from_env({**BASE, "SUPPORTED_LOCALES": locales})
    bad = locales.rsplit(",", maxsplit=1)[-1]
    assert str(raised.value) == (
        f"invalid BFF configuration: SUPPORTED_LOCALES: Babel has no locale data (CLDR) to format prices for {bad}"
    )


@pytest.mark.parametrize("locales", ["en-US", "zh-Hant-TW,es-419", "zh-TW,en"])
def test_locales_babel_knows_are_accepted(locales: str) -> None:
    assert Settings.from_env({**BASE, "SUPPORTED_LOCALES": locales}).locales() == locales.split(",")


@pytest.mark.parametrize(
    ("given", "closest"),
    [
        ("PRODUCT_SERVICE_TIMEOUT_MS", "PRODUCT_TIMEOUT_MS"),
        ("PAGE_DEADLINE", "PAGE_DEADLINE_MS"),
        ("page_deadline_ms", "PAGE_DEADLINE_MS"),
        ("RETRY_MAX_ATTEMPT", "RETRY_MAX_ATTEMPTS"),
        ("REVIEWS_TIMEOUT", "REVIEWS_TIMEOUT_MS"),
        ("CACHE_L2_TIMEOUT", "CACHE_L2_TIMEOUT_MS"),
    ],
)
def test_a_variable_with_a_settings_first_word_but_no_settings_name_gets_the_closest_name(
    given: str, closest: str
) -> None:
    assert lookalike_settings([given], Settings.environment_variables()) == {given: closest}


@pytest.mark.parametrize(
    "given",
    [
        "PAGE_DEADLINE_MS",  # a setting
        "REVIEW_TIMEOUT_MS",  # an older name that still works
        "AWS_LAMBDA_FUNCTION_NAME",  # Lambda's, beside our AWS_REGION
        "SERVICE_REGISTRY_PUBLISHED",  # the template's ordering reference
        "HTTP_PROXY",
        "PATH",
        "POWERTOOLS_SERVICE_NAME",
        "LAMBDA_TASK_ROOT",
    ],
)
def test_settings_and_other_softwares_variables_are_not_lookalikes(given: str) -> None:
    assert lookalike_settings([given], Settings.environment_variables()) == {}
