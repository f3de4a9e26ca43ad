"""The downstream services the BFF knows: ONE declaration, and the naming rule of their environment variables.

A new downstream service is one entry in SERVICES plus its variables (`{NAME}_SERVICE_URL`, ...).

Plain standard library and no bff imports: `make dev` (localapi, in SAM's virtualenv, which cannot import the BFF)
loads this file by path to learn the services and their variable names, and to warn, as the BFF does at start,
about variables that look like settings but are not (`lookalike_settings`).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

# ServiceSettings field -> suffix of its variable; NAME is the service name upper-cased.
VARIABLE_SUFFIXES: Mapping[str, str] = MappingProxyType(
    {
        "base_url": "SERVICE_URL",
        "timeout_ms": "TIMEOUT_MS",
        "hedge_delay_ms": "HEDGE_DELAY_MS",
        "max_connections": "MAX_CONNECTIONS",
        "cache_ttl_s": "CACHE_TTL_S",
        "batch_path": "BATCH_PATH",
        "batch_max_ids": "BATCH_MAX_IDS",
    }
)
# The one variable that sets a field for every service, unless the service's own variable says otherwise.
SHARED_DEFAULT_VARIABLES: Mapping[str, str] = MappingProxyType({"max_connections": "MAX_CONNECTIONS_PER_SERVICE"})


@dataclass(frozen=True, slots=True)
class ServiceDefaults:
    """Defaults of one service; `legacy_prefix` keeps older variable names working for the fields it lists."""

    timeout_ms: int = 450
    hedge_delay_ms: int = 100
    cache_ttl_s: int = 0
    batch_path: str | None = None
    """`GET {base}{batch_path}?ids=a,b` answers `{"a": {...}, "b": {...}}`; None (or empty): one call per id."""
    batch_max_ids: int = 50
    legacy_prefix: str | None = None
    legacy_fields: tuple[str, ...] = ()


SERVICES: Mapping[str, ServiceDefaults] = MappingProxyType(
    {
        "product": ServiceDefaults(cache_ttl_s=300, batch_path="/products"),
        "reviews": ServiceDefaults(
            cache_ttl_s=60,
            batch_path="/reviews",
            legacy_prefix="REVIEW",
            legacy_fields=("base_url", "timeout_ms", "hedge_delay_ms"),
        ),
        # Stock changes fast: a short cache, and an earlier hedge for a service that answers quickly.
        "inventory": ServiceDefaults(hedge_delay_ms=60, cache_ttl_s=5, batch_path="/inventory"),
        # Per-user data: never in the shared fragment cache, and no hedging (a cart write must not run twice).
        "cart": ServiceDefaults(hedge_delay_ms=0, cache_ttl_s=0),
    }
)


def variable(service: str, field: str) -> str:
    """The variable of one field of one service, by the naming rule: `reviews`, `timeout_ms` → REVIEWS_TIMEOUT_MS."""
    return f"{service.upper()}_{VARIABLE_SUFFIXES[field]}"


def alias_variable(service: str, field: str) -> str | None:
    """The older name the same setting still answers to, if any."""
    defaults = SERVICES.get(service)
    if defaults is None or defaults.legacy_prefix is None or field not in defaults.legacy_fields:
        return None
    return f"{defaults.legacy_prefix}_{VARIABLE_SUFFIXES[field]}"


def variable_names(services: Mapping[str, ServiceDefaults] = SERVICES) -> list[str]:
    """Every variable the services' settings read: the rule's names, their aliases and the shared defaults."""
    names = set(SHARED_DEFAULT_VARIABLES.values())
    for service in services:
        for field in VARIABLE_SUFFIXES:
            names.add(variable(service, field))
            if (alias := alias_variable(service, field)) is not None:
                names.add(alias)
    return sorted(names)


# Variables that share a setting's first word but are expected, not misspelled settings: the template's ordering
# reference for the registry's parameters, and the proxy variable of HTTP clients (beside HTTP_TRANSPORT).
EXPECTED_LOOKALIKES = frozenset({"SERVICE_REGISTRY_PUBLISHED", "HTTP_PROXY"})
# First words that other software's variables share with a setting: Lambda sets many AWS_* (AWS_REGION is ours).
FOREIGN_FIRST_WORDS = frozenset({"AWS"})


def lookalike_settings(given: Iterable[str], settings: Iterable[str]) -> dict[str, str]:
    """Each given variable that starts (in any case) with a setting's first word (PRODUCT_, PAGE_, CACHE_, ...) but
    is no setting, with the closest setting's name (difflib): a misspelled setting would otherwise be ignored."""
    known = set(settings)
    first_words = {name.split("_", 1)[0] + "_" for name in known if "_" in name}
    first_words -= {f"{word}_" for word in FOREIGN_FIRST_WORDS}
    lookalikes = {}
    for name in sorted(given):
        upper = name.upper()
        if name not in known and name not in EXPECTED_LOOKALIKES and upper.startswith(tuple(first_words)):
            lookalikes[name] = difflib.get_close_matches(upper, known, n=1, cutoff=0)[0]
    return lookalikes
