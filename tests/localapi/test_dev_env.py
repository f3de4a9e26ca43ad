"""The env-vars overrides `make dev` hands to SAM: the local AWS and registry for the BFF, per-mock fault switches."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bff.config.services import SERVICES, variable
from bff.config.settings import Settings
from localapi.dev_env import (
    BFF_SETTINGS_FILE,
    EnvVarsFileError,
    bff_setting_names,
    local_overrides,
    lookalike_warnings,
    read_env_vars_file,
)
from tests.support.tooling import REPO_ROOT

LOCAL_AWS = {
    "SERVICE_REGISTRY_PATH": "/product-bff/local/services/",
    "AWS_ENDPOINT_URL_SSM": "http://127.0.0.1:5999",
    "CACHE_TABLE_NAME": "FragmentCacheTable",
}


def test_the_bff_finds_its_services_through_the_local_registry_not_through_urls() -> None:
    # Given no user file and no fault switches
    # When the overrides are built with the local AWS environment
    overrides = local_overrides(shell={}, user_overrides={}, local_aws=LOCAL_AWS)

    # Then the BFF gets the registry and endpoints, calls to the local API are not signed, and the template's
    # service URLs are blanked (a blank URL is none), so that discovery finds every service
    blank_urls = {variable(name, "base_url"): "" for name in SERVICES}
    bff = {**blank_urls, **LOCAL_AWS, "DOWNSTREAM_AUTH": "none", "OTEL_TRACES_SAMPLER": "parentbased_always_on"}
    assert overrides == {"BffFunction": bff, "CartFunction": bff}


def test_the_cart_function_gets_the_page_functions_environment_then_its_own_section() -> None:
    # Given a shell setting and a user file with a section for the cart function alone
    user = {"CartFunction": {"IDEMPOTENCY_TIMEOUT_MS": "150"}}
    overrides = local_overrides(
        {"PAGE_DEADLINE_MS": "900"}, user, bff_settings=["PAGE_DEADLINE_MS"], local_aws=LOCAL_AWS
    )
    # Then both functions of the BFF's code get the shell's setting and the local AWS; only the cart its own value
    assert overrides["CartFunction"]["PAGE_DEADLINE_MS"] == overrides["BffFunction"]["PAGE_DEADLINE_MS"] == "900"
    assert overrides["CartFunction"]["SERVICE_REGISTRY_PATH"] == LOCAL_AWS["SERVICE_REGISTRY_PATH"]
    assert overrides["CartFunction"]["IDEMPOTENCY_TIMEOUT_MS"] == "150"
    assert "IDEMPOTENCY_TIMEOUT_MS" not in overrides["BffFunction"]


def test_a_shell_service_url_beats_the_registry_as_in_aws() -> None:
    # Given PRODUCT_SERVICE_URL in the shell, one of the BFF's settings
    shell = {"PRODUCT_SERVICE_URL": "http://127.0.0.1:9", "SERVICE_REGISTRY_PATH": "/elsewhere/"}

    # When the overrides are built
    overrides = local_overrides(shell, {}, ["PRODUCT_SERVICE_URL", "SERVICE_REGISTRY_PATH"], LOCAL_AWS)

    # Then it reaches the BFF (whose discovery puts an explicit URL first), as does any other setting from the shell
    assert overrides["BffFunction"]["PRODUCT_SERVICE_URL"] == "http://127.0.0.1:9"
    assert overrides["BffFunction"]["SERVICE_REGISTRY_PATH"] == "/elsewhere/"


def test_a_prefixed_fault_switch_reaches_only_its_mock_and_beats_the_unprefixed_one() -> None:
    # Given a latency for every mock and a hang for the reviews mock alone
    shell = {"MOCK_LATENCY_MS": "5", "REVIEWS_MOCK_FAULT": "hang", "MOCK_FAULT": "none", "UNRELATED": "x"}

    # When the overrides are built
    overrides = local_overrides(shell=shell, user_overrides={})

    # Then each mock gets the shared values, and only the reviews mock hangs
    assert overrides["ProductMockFunction"] == {"MOCK_LATENCY_MS": "5", "MOCK_FAULT": "none"}
    assert overrides["ReviewsMockFunction"] == {"MOCK_LATENCY_MS": "5", "MOCK_FAULT": "hang"}
    assert overrides["InventoryMockFunction"] == {"MOCK_LATENCY_MS": "5", "MOCK_FAULT": "none"}
    assert "MOCK_LATENCY_MS" not in overrides["BffFunction"]


def test_the_user_file_beats_the_local_aws_and_the_shell_beats_the_user_file() -> None:
    # Given a user file that points the BFF elsewhere and sets a mock fault, and a shell fault switch
    user = {
        "BffFunction": {"PRODUCT_SERVICE_URL": "http://127.0.0.1:9", "CACHE_TABLE_NAME": "mine"},
        "ProductMockFunction": {"MOCK_FAULT": "error", "MOCK_SEED": "7"},
        "Parameters": {"PAGE_DEADLINE_MS": "800"},
    }

    # When the overrides are built
    overrides = local_overrides(shell={"PRODUCT_MOCK_FAULT": "429"}, user_overrides=user, local_aws=LOCAL_AWS)

    # Then the user file wins over the local AWS, and the shell over the user file
    assert overrides["BffFunction"]["PRODUCT_SERVICE_URL"] == "http://127.0.0.1:9"
    assert overrides["BffFunction"]["CACHE_TABLE_NAME"] == "mine"
    assert overrides["BffFunction"]["SERVICE_REGISTRY_PATH"] == LOCAL_AWS["SERVICE_REGISTRY_PATH"]
    assert overrides["BffFunction"]["REVIEWS_SERVICE_URL"] == ""
    assert overrides["ProductMockFunction"] == {"MOCK_FAULT": "429", "MOCK_SEED": "7"}
    assert overrides["Parameters"] == {"PAGE_DEADLINE_MS": "800"}


def test_a_user_file_in_sam_format_is_read_with_values_as_strings(tmp_path: Path) -> None:
    # Given a SAM env-vars file with a number in it
    path = tmp_path / "env.json"
    path.write_text(json.dumps({"ReviewsMockFunction": {"MOCK_LATENCY_MS": 250}}))

    # When it is read
    # Then every value is a string, as Lambda environment variables are
    assert read_env_vars_file(path) == {"ReviewsMockFunction": {"MOCK_LATENCY_MS": "250"}}


@pytest.mark.parametrize("content", ["not json", '["a list"]', '{"BffFunction": "not a mapping"}'])
def test_a_malformed_user_file_is_refused_with_its_path(tmp_path: Path, content: str) -> None:
    # Given a file that is not in SAM's env-vars format
    path = tmp_path / "env.json"
    path.write_text(content)

    # When it is read
    # Then the error names the file
    with pytest.raises(EnvVarsFileError, match=r"env\.json"):
        read_env_vars_file(path)


def test_the_shells_bff_settings_powertools_and_opentelemetry_variables_reach_the_bff() -> None:
    # Given settings the template does not declare, a Powertools variable and unrelated ones, in the shell
    shell = {
        "RETRY_MAX_ATTEMPTS": "2",
        "PAGE_CACHE_MAX_AGE_S": "60",
        "POWERTOOLS_LOG_LEVEL": "DEBUG",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
        "HOME": "/home/me",
        "MOCK_FAULT": "hang",
    }

    # When the overrides are built with the BFF's setting names
    overrides = local_overrides(shell, {}, bff_settings=["RETRY_MAX_ATTEMPTS", "PAGE_CACHE_MAX_AGE_S"])

    # Then the BFF gets exactly those; the mock switch goes to the mocks only
    assert overrides["BffFunction"] == {
        **{variable(name, "base_url"): "" for name in SERVICES},
        "DOWNSTREAM_AUTH": "none",
        "OTEL_TRACES_SAMPLER": "parentbased_always_on",  # every request traced locally, when tracing is on
        "RETRY_MAX_ATTEMPTS": "2",
        "PAGE_CACHE_MAX_AGE_S": "60",
        "POWERTOOLS_LOG_LEVEL": "DEBUG",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",  # tracing on under `make dev`
    }


def test_the_shell_beats_the_user_file_for_a_bff_setting() -> None:
    user = {"BffFunction": {"PAGE_DEADLINE_MS": "800"}}
    overrides = local_overrides({"PAGE_DEADLINE_MS": "900"}, user, bff_settings=["PAGE_DEADLINE_MS"])
    assert overrides["BffFunction"]["PAGE_DEADLINE_MS"] == "900"


def test_the_setting_names_read_from_the_bffs_source_are_those_its_settings_read() -> None:
    # Given the BFF's settings module, read as text as `make dev` reads it (SAM's venv cannot import the BFF)
    source = (REPO_ROOT / BFF_SETTINGS_FILE).read_text()

    # When the variable names are taken from it
    names = bff_setting_names(source)

    # Then they are exactly the environment variables Settings.from_env reads, the services' ones included
    assert names == Settings.environment_variables()
    assert {"RETRY_MAX_ATTEMPTS", "PAGE_CACHE_MAX_AGE_S", "CORS_ALLOWED_ORIGINS"} <= set(names)
    assert {"REVIEWS_TIMEOUT_MS", "REVIEW_TIMEOUT_MS", "INVENTORY_CACHE_TTL_S", "MAX_CONNECTIONS_PER_SERVICE"} <= set(
        names
    )


def test_the_local_services_and_their_mocks_are_the_bffs_declared_services() -> None:
    # Given the BFF's declaration of its services
    # When the overrides are built with a fault switch for each service's mock
    shell = {f"{name.upper()}_MOCK_FAULT": "hang" for name in SERVICES}
    overrides = local_overrides(shell=shell, user_overrides={})

    # Then every declared service's mock gets its switch
    assert {f"{name.capitalize()}MockFunction" for name in SERVICES} <= set(overrides)


def test_a_service_url_under_its_former_name_is_followed_so_the_bff_sees_no_conflict() -> None:
    # Given a user file with the former name of the reviews URL
    user = {"BffFunction": {"REVIEW_SERVICE_URL": "http://127.0.0.1:9"}}

    # When the overrides are built
    overrides = local_overrides(shell={}, user_overrides=user)

    # Then the rule's name carries the same URL, and the BFF's settings read it without a conflict
    assert overrides["BffFunction"]["REVIEWS_SERVICE_URL"] == "http://127.0.0.1:9"
    others = {variable(name, "base_url"): "http://127.0.0.1:8" for name in SERVICES if name != "reviews"}
    settings = Settings.from_env({**overrides["BffFunction"], **others})
    assert settings.services["reviews"].base_url == "http://127.0.0.1:9"


def test_a_local_aws_endpoint_in_the_shell_reaches_the_bff() -> None:
    # Given a moto server named for DynamoDB in the shell (the idempotency table of cart writes lives there)
    shell = {"AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:5000", "AWS_PROFILE": "work"}
    # When the overrides are built
    overrides = local_overrides(shell, {})
    # Then the BFF gets the endpoint, and nothing else of the shell's AWS configuration
    assert overrides["BffFunction"]["AWS_ENDPOINT_URL_DYNAMODB"] == "http://127.0.0.1:5000"
    assert "AWS_PROFILE" not in overrides["BffFunction"]


def test_a_shell_variable_that_looks_like_a_bff_setting_is_one_line_with_the_closest_name() -> None:
    # Given a shell with a misspelled setting, real settings, the mocks' switches and unrelated variables
    shell = {
        "PRODUCT_SERVICE_TIMEOUT_MS": "100",
        "PAGE_DEADLINE_MS": "400",
        "REVIEWS_MOCK_FAULT": "error",
        "PRODUCT_MOCK_LATENCY_MS": "5",
        "MOCK_SEED": "1",
        "AWS_PROFILE": "dev",
        "HOME": "/root",
    }
    names = bff_setting_names((REPO_ROOT / BFF_SETTINGS_FILE).read_text())

    # Then only the misspelled one is warned about, naming the setting it is closest to
    assert lookalike_warnings(shell, names) == [
        "localapi: PRODUCT_SERVICE_TIMEOUT_MS is not a BFF setting and is not passed on; did you mean "
        "PRODUCT_TIMEOUT_MS?"
    ]
