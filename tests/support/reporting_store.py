"""A shared store whose calls report their failures to one listener, as the fragment cache passes each call the
request's recorder (bff.resilience.caching): store tests read what was reported."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bff.cache.dynamodb import DynamoDbStore
from bff.cache.entry import CacheEntry, OnStoreError, StoreErrorKind, ignore_store_error
from bff.cache.redis import RedisStore


class ReportingStore:
    """`store`, with `on_error` given to each of its reads and writes (beside the caller's); anything else is the
    store's own."""

    def __init__(self, store: DynamoDbStore | RedisStore, on_error: OnStoreError) -> None:
        self.store = store
        self._on_error = on_error

    async def get_many(
        self, keys: Sequence[str], within_s: float, on_error: OnStoreError = ignore_store_error
    ) -> dict[str, CacheEntry]:
        return await self.store.get_many(keys, within_s, self._both(on_error))

    async def put_many(
        self, entries: Mapping[str, CacheEntry], within_s: float, on_error: OnStoreError = ignore_store_error
    ) -> None:
        await self.store.put_many(entries, within_s, self._both(on_error))

    def _both(self, on_error: OnStoreError) -> OnStoreError:
        def report(kind: StoreErrorKind) -> None:
            self._on_error(kind)
            on_error(kind)

        return report

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)
