"""A cached section answer, its freshness arithmetic (RFC 9111, as a private cache) and its wire form."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from bff.core.encoding import percent_encoded

type JsonValue = dict[str, JsonValue] | list[JsonValue] | str | int | float | bool | None
type Clock = Callable[[], float]
type StoreErrorKind = Literal["timeout", "throttled", "error", "malformed"]
"""timeout, throttled and error say the store is unwell (it is then skipped for a while, bff.cache.outage);
malformed says one item was not an entry (a miss, which the next good answer overwrites)."""
type OnStoreError = Callable[[StoreErrorKind], None]


def ignore_store_error(kind: StoreErrorKind) -> None:
    del kind


CACHEABLE_STATUSES = frozenset({200, 404})
_KEY_PREFIX = "frag1"


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """A downstream answer (200, or 404 for negative caching) with its freshness and stale windows."""

    value: JsonValue
    status: int
    stored_at: float
    fresh_until: float
    stale_until: float

    @classmethod
    def create(cls, value: JsonValue, *, status: int, now: float, fresh_s: float, stale_s: float) -> CacheEntry:
        """An entry fresh for `fresh_s`, then usable for stale-if-error for `stale_s` more."""
        if status not in CACHEABLE_STATUSES:
            raise ValueError(f"status {status} is not cacheable")
        fresh_until = now + max(fresh_s, 0.0)
        return cls(value, status, now, fresh_until, fresh_until + max(stale_s, 0.0))


def is_fresh(entry: CacheEntry, now: float) -> bool:
    return now < entry.fresh_until


def is_usable_stale(entry: CacheEntry, now: float) -> bool:
    """Still inside the stale window: may answer for a failed live call (a fresh entry is usable too)."""
    return now < entry.stale_until


def age_s(entry: CacheEntry, now: float) -> float:
    return max(now - entry.stored_at, 0.0)


def cache_key(service: str, entity_id: str) -> str:
    """A store key: the service and the id, all that changes a service's answer. Each part is percent-encoded so
    that no id can collide with another's key."""
    return ":".join(percent_encoded(part) for part in (_KEY_PREFIX, service, entity_id))


def parse_cache_control(header: str | None) -> dict[str, str | None]:
    """Directive names (lower case) to their argument; the first occurrence of a repeated directive wins."""
    directives: dict[str, str | None] = {}
    for item in (header or "").split(","):
        name, has_value, raw = item.partition("=")
        name = name.strip().lower()
        if not name or not _is_token(name):
            continue
        value = raw.strip().strip('"') if has_value else None
        directives.setdefault(name, value)
    return directives


def freshness_s(ttl_s: float, cache_control: str | None) -> float | None:
    """Seconds an answer stays fresh, or None when it must not be stored at all.

    The service's TTL is the ceiling; `no-store` forbids storing, `no-cache` stores with no freshness (the
    entry then only serves stale-if-error), and a shorter `max-age` wins. `private`, `public` and `s-maxage`
    speak to shared caches and change nothing here; malformed directives are ignored.
    """
    if ttl_s <= 0:
        return None
    directives = parse_cache_control(cache_control)
    if "no-store" in directives:
        return None
    if "no-cache" in directives:
        return 0.0
    max_age = _delta_seconds(directives.get("max-age"))
    return float(min(ttl_s, max_age)) if max_age is not None else float(ttl_s)


def may_serve_stale(cache_control: str | None) -> bool:
    """False when the origin said a stale copy must not be reused without revalidation."""
    directives = parse_cache_control(cache_control)
    return not {"must-revalidate", "proxy-revalidate", "no-store"} & directives.keys()


def _delta_seconds(raw: str | None) -> int | None:
    if raw is None or not raw.isascii() or not raw.isdigit():
        return None
    return int(raw)


def _is_token(name: str) -> bool:
    return name.isascii() and all(char.isalnum() or char in "!#$%&'*+-.^_`|~" for char in name)


class FragmentStore(Protocol):
    """A shared store (L2). It never raises: a failure is a miss, or a lost write, reported to the call's `on_error`
    (the request's recorder, bff.resilience.caching), so that it is counted in that request's line. Each call makes
    one round trip per chunk of keys (chunks in parallel), all under one timeout: the store's own, cut to
    `within_s`, what is left of the request's deadline."""

    async def get_many(
        self, keys: Sequence[str], within_s: float, on_error: OnStoreError = ignore_store_error
    ) -> dict[str, CacheEntry]:
        """The usable entries (inside their stale window) among `keys`; a key that is absent is left out."""
        ...

    async def put_many(
        self, entries: Mapping[str, CacheEntry], within_s: float, on_error: OnStoreError = ignore_store_error
    ) -> None: ...


def dumps(entry: CacheEntry) -> str:
    document = {
        "v": entry.value,
        "s": entry.status,
        "t": entry.stored_at,
        "f": entry.fresh_until,
        "x": entry.stale_until,
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def loads(text: str | bytes) -> CacheEntry:
    """The entry in `text`; ValueError when it is not one (a store treats that as a miss)."""
    document = json.loads(text)
    if not isinstance(document, dict):
        raise ValueError("a cache entry is a JSON object")
    status = document.get("s")
    if not isinstance(status, int) or status not in CACHEABLE_STATUSES or "v" not in document:
        raise ValueError("a cache entry needs a value and a cacheable status")
    stored_at, fresh_until, stale_until = (_finite_time(document.get(name)) for name in ("t", "f", "x"))
    value: JsonValue = document["v"]
    return CacheEntry(value, status, stored_at, fresh_until, stale_until)


def decode_entries(raw: Mapping[str, str | bytes | None], now: float) -> tuple[dict[str, CacheEntry], int]:
    """The usable entries among a store's raw values (None: the key is absent), and how many values were not
    entries at all (malformed: each a miss)."""
    entries: dict[str, CacheEntry] = {}
    malformed = 0
    for key, text in raw.items():
        if text is None:
            continue
        try:
            entry = loads(text)
        except (ValueError, RecursionError):
            malformed += 1
            continue
        if is_usable_stale(entry, now):
            entries[key] = entry
    return entries, malformed


def _finite_time(raw: object) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise ValueError("a cache entry needs finite times")
    return float(raw)
