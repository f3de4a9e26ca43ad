"""Environment-variable overrides for `make dev`, in SAM's env-vars format: {"LogicalId": {"NAME": "value"}}.

Precedence, lowest first: the BFF's service URLs pointing at this local API, the user's --env-vars file, then
the shell: every variable the BFF's settings read, POWERTOOLS_*, and MOCK_* (unprefixed for all three mocks,
PRODUCT_/REVIEWS_/INVENTORY_ for one).
"""

import json
import re
from collections.abc import Iterable, Mapping
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
# Where the BFF's settings live, relative to the template; the variable names are its fields' aliases.
BFF_SETTINGS_FILE = Path("functions/bff/bff/settings.py")
_SETTING_ALIAS = re.compile(r"""\balias=["']([A-Z][A-Z0-9_]*)["']""")
BFF_SHELL_PREFIXES = ("POWERTOOLS_",)


class EnvVarsFileError(Exception):
    pass


def local_overrides(
    port: int, shell: Mapping[str, str], user_overrides: EnvOverrides, bff_settings: Iterable[str] = ()
) -> EnvOverrides:
    base_url = f"http://127.0.0.1:{port}"
    # Locally the mocks answer on the local API itself, unsigned: no SigV4 and no credentials needed.
    merged: EnvOverrides = {BFF_FUNCTION: {**dict.fromkeys(SERVICE_URL_VARIABLES, base_url), "DOWNSTREAM_AUTH": "none"}}
    for layer in (user_overrides, bff_overrides(shell, bff_settings), mock_overrides(shell)):
        for section, variables in layer.items():
            merged.setdefault(section, {}).update(variables)
    return merged


def bff_overrides(shell: Mapping[str, str], bff_settings: Iterable[str]) -> EnvOverrides:
    """The shell's values of the BFF's settings and POWERTOOLS_* variables, as `make dev` users expect them to
    reach the BFF; SAM itself passes only variables the template declares."""
    names = set(bff_settings)
    variables = {name: value for name, value in shell.items() if name in names or name.startswith(BFF_SHELL_PREFIXES)}
    return {BFF_FUNCTION: variables} if variables else {}


def bff_setting_names(settings_source: str) -> list[str]:
    """The environment variables the BFF's Settings read: the `alias="NAME"` of each field."""
    return sorted(set(_SETTING_ALIAS.findall(settings_source)))


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
