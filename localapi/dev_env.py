"""Environment-variable overrides for `make dev`, in SAM's env-vars format: {"LogicalId": {"NAME": "value"}}.

Precedence, lowest first: the local AWS of `make dev` (localapi.local_aws: the moto endpoints, fake credentials,
the tables' names and SERVICE_REGISTRY_PATH, whose SSM parameters point the BFF at this local API), the user's
--env-vars file, then the shell: every variable the BFF's settings read (so a shell `{NAME}_SERVICE_URL` beats the
registry, as it does in AWS), POWERTOOLS_*, and MOCK_* (unprefixed for every mock, `{NAME}_MOCK_*` for the mock of
service NAME, e.g. REVIEWS_MOCK_FAULT).

The services, their variables and their mocks' function ids all come from the BFF's one declaration of its
services (functions/bff/bff/config/services.py), loaded by path: SAM's virtualenv cannot import the BFF.
"""

import importlib.util
import json
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import ModuleType

type EnvOverrides = dict[str, dict[str, str]]

REPO_ROOT = Path(__file__).resolve().parent.parent
BFF_FUNCTION = "BffFunction"
# The BFF's other functions: the same code on other routes (the cart's, for its own concurrency); each gets the
# page function's local environment, then its own section of the user's file.
BFF_SIBLING_FUNCTIONS = ("CartFunction",)
# Where the BFF's settings live, relative to the template; the variable names are its fields' aliases.
BFF_SETTINGS_FILE = Path("functions/bff/bff/config/settings.py")
BFF_SERVICES_FILE = Path("functions/bff/bff/config/services.py")


def _load_services(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("_bff_services_declaration", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


_SERVICES = _load_services(REPO_ROOT / BFF_SERVICES_FILE)
SERVICE_NAMES: tuple[str, ...] = tuple(_SERVICES.SERVICES)
SERVICE_URL_VARIABLES = tuple(_SERVICES.variable(name, "base_url") for name in SERVICE_NAMES)
# An older name of a service URL (REVIEW_SERVICE_URL) -> the rule's name (REVIEWS_SERVICE_URL).
SERVICE_URL_ALIASES = {
    alias: _SERVICES.variable(name, "base_url")
    for name in SERVICE_NAMES
    if (alias := _SERVICES.alias_variable(name, "base_url")) is not None
}
MOCK_FUNCTIONS_BY_PREFIX = {f"{name.upper()}_": f"{name.capitalize()}MockFunction" for name in SERVICE_NAMES}
MOCK_VARIABLES = ("MOCK_LATENCY_MS", "MOCK_ERROR_RATE", "MOCK_FAULT", "MOCK_RETRY_AFTER_S", "MOCK_SEED")
_SETTING_ALIAS = re.compile(r"""\balias=["']([A-Z][A-Z0-9_]*)["']""")
# AWS_ENDPOINT_URL_*: a local DynamoDB (a moto server) for the idempotency and cache tables.
BFF_SHELL_PREFIXES = ("POWERTOOLS_", "AWS_ENDPOINT_URL_", "OTEL_")
# With tracing on under `make dev` (an OTEL_EXPORTER_OTLP_ENDPOINT in the shell), every request is traced: the
# template's sampling ratio is for AWS (and SAM cannot resolve its parameter here, which the SDK would warn about on
# each worker's start). A shell's own OTEL_TRACES_SAMPLER still wins.
LOCAL_TRACING = {"OTEL_TRACES_SAMPLER": "parentbased_always_on"}


class EnvVarsFileError(Exception):
    pass


def local_overrides(
    shell: Mapping[str, str],
    user_overrides: EnvOverrides,
    bff_settings: Iterable[str] = (),
    local_aws: Mapping[str, str] | None = None,
) -> EnvOverrides:
    # Locally the mocks answer on the local API itself, unsigned: no SigV4. The template's service URLs are blanked
    # (a blank URL is none): the BFF finds the mocks through the local service registry, as it finds the services
    # in AWS, unless the user's file or the shell gives a URL.
    blank_urls = dict.fromkeys(SERVICE_URL_VARIABLES, "")
    merged: EnvOverrides = {
        BFF_FUNCTION: {**blank_urls, **(local_aws or {}), "DOWNSTREAM_AUTH": "none", **LOCAL_TRACING}
    }
    layers = (user_overrides, bff_overrides(shell, bff_settings), mock_overrides(shell))
    for layer in layers:
        for section, variables in layer.items():
            merged.setdefault(section, {}).update(variables)
    _follow_url_aliases(merged[BFF_FUNCTION], [layer.get(BFF_FUNCTION, {}) for layer in layers])
    for sibling in BFF_SIBLING_FUNCTIONS:
        merged[sibling] = {**merged[BFF_FUNCTION], **user_overrides.get(sibling, {})}
    return merged


def _follow_url_aliases(bff: dict[str, str], given: list[Mapping[str, str]]) -> None:
    """A URL given under its older name (REVIEW_SERVICE_URL) replaces the generated one under the rule's name,
    which the BFF would otherwise refuse as a conflict."""
    for alias, name in SERVICE_URL_ALIASES.items():
        if alias in bff and not any(name in layer for layer in given):
            bff[name] = bff[alias]


def bff_overrides(shell: Mapping[str, str], bff_settings: Iterable[str]) -> EnvOverrides:
    """The shell's values of the BFF's settings and POWERTOOLS_* variables, as `make dev` users expect them to
    reach the BFF; SAM itself passes only variables the template declares."""
    names = set(bff_settings)
    variables = {name: value for name, value in shell.items() if name in names or name.startswith(BFF_SHELL_PREFIXES)}
    return {BFF_FUNCTION: variables} if variables else {}


def bff_setting_names(settings_source: str) -> list[str]:
    """The environment variables the BFF's Settings read: the `alias="NAME"` of each field, and the services'
    variables by the naming rule of the services' declaration."""
    return sorted(set(_SETTING_ALIAS.findall(settings_source)) | set(_SERVICES.variable_names()))


def lookalike_warnings(shell: Mapping[str, str], bff_settings: Iterable[str]) -> list[str]:
    """One line for each shell variable that looks like a BFF setting but is none (the services' declaration's
    rule, as the BFF applies it at start): `make dev` does not pass it on, so without this line it would be
    silently ignored. The mocks' variables ({NAME}_MOCK_*) are not BFF settings and are not warned about."""
    mock_variables = {prefix + name for prefix in MOCK_FUNCTIONS_BY_PREFIX for name in MOCK_VARIABLES}
    given = [name for name in shell if name not in mock_variables]
    return [
        f"localapi: {name} is not a BFF setting and is not passed on; did you mean {closest}?"
        for name, closest in _SERVICES.lookalike_settings(given, bff_settings).items()
    ]


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
