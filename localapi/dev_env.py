"""Environment-variable overrides for `make dev`, in SAM's env-vars format: {"LogicalId": {"NAME": "value"}}.

Precedence, lowest first: the BFF's service URLs pointing at this local API, the user's --env-vars file, then
MOCK_* variables from the shell (unprefixed for all three mocks, PRODUCT_/REVIEWS_/INVENTORY_ for one).
"""

import json
from collections.abc import Mapping
from pathlib import Path

type EnvOverrides = dict[str, dict[str, str]]

BFF_FUNCTION = "BffFunction"
SERVICE_URL_VARIABLES = ("PRODUCT_SERVICE_URL", "REVIEW_SERVICE_URL", "INVENTORY_SERVICE_URL")
MOCK_FUNCTIONS_BY_PREFIX = {
    "PRODUCT_": "ProductMockFunction",
    "REVIEWS_": "ReviewsMockFunction",
    "INVENTORY_": "InventoryMockFunction",
}
MOCK_VARIABLES = ("MOCK_LATENCY_MS", "MOCK_ERROR_RATE", "MOCK_FAULT", "MOCK_RETRY_AFTER_S", "MOCK_SEED")


class EnvVarsFileError(Exception):
    pass


def local_overrides(port: int, shell: Mapping[str, str], user_overrides: EnvOverrides) -> EnvOverrides:
    base_url = f"http://127.0.0.1:{port}"
    # Locally the mocks answer on the local API itself, unsigned: no SigV4 and no credentials needed.
    merged: EnvOverrides = {BFF_FUNCTION: {**dict.fromkeys(SERVICE_URL_VARIABLES, base_url), "DOWNSTREAM_AUTH": "none"}}
    for layer in (user_overrides, mock_overrides(shell)):
        for section, variables in layer.items():
            merged.setdefault(section, {}).update(variables)
    return merged


def mock_overrides(shell: Mapping[str, str]) -> EnvOverrides:
    overrides: EnvOverrides = {}
    for prefix, function in MOCK_FUNCTIONS_BY_PREFIX.items():
        variables = {
            name: value for name in MOCK_VARIABLES if (value := shell.get(prefix + name, shell.get(name))) is not None
        }
        if variables:
            overrides[function] = variables
    return overrides


def read_env_vars_file(path: Path) -> EnvOverrides:
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise EnvVarsFileError(f"cannot read env-vars file {path}: {error}") from error
    if not isinstance(document, dict) or not all(isinstance(section, dict) for section in document.values()):
        raise EnvVarsFileError(f'{path} must look like {{"FunctionLogicalId": {{"NAME": "value"}}}}')
    return {name: {key: str(value) for key, value in section.items()} for name, section in document.items()}
