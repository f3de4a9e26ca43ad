"""The fleet's breaker state on DynamoDB: one item (`pk` = `fleet-breaker`) in the fragment cache's table, holding
every service's fields, so that a refresh is one eventually consistent GetItem (half a read unit). Changes are
conditional UpdateItems that return the new item, so a failure report also refreshes the environment's copy.

The client follows the L2 store's rules: created once in the running loop, botocore retries off, second-scale
connect and read timeouts, and every operation cut to `timeout_s`."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import ClientError

from bff.cache.fleet_state import (
    FAILURES,
    LEASE,
    SINCE,
    STATE,
    UNTIL,
    WINDOW,
    FleetStateName,
    ServiceRecord,
    field_name,
    parse_records,
)

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

ITEM_KEY = "fleet-breaker"
_CONDITION_FAILED = "ConditionalCheckFailedException"


class DynamoDbFleetStore:
    """A FleetStore in one item of `table_name`; the endpoint comes from botocore's configuration unless given."""

    def __init__(
        self,
        table_name: str,
        *,
        timeout_s: float = 0.05,
        region_name: str | None = None,
        endpoint_url: str | None = None,
        item_key: str = ITEM_KEY,
    ) -> None:
        self.table_name = table_name
        self.timeout_s = timeout_s
        self._region_name = region_name
        self._endpoint_url = endpoint_url
        self._key = {"pk": {"S": item_key}}
        self._exit_stack = AsyncExitStack()
        self._client_task: asyncio.Task[DynamoDBClient] | None = None

    async def read(self, timeout_s: float | None = None) -> dict[str, ServiceRecord]:
        async with asyncio.timeout(timeout_s or self.timeout_s):
            client = await self._client()
            response = await client.get_item(TableName=self.table_name, Key=self._key)
        return parse_records(_strings(response.get("Item", {})))

    async def report_failures(self, service: str, count: int, window: int) -> tuple[int, dict[str, ServiceRecord]]:
        names = {"#w": field_name(service, WINDOW), "#f": field_name(service, FAILURES)}
        values = {":w": {"N": str(window)}, ":n": {"N": str(count)}}
        # The window's counter grows while it is the current one; the first report of a later window restarts it.
        # Two reporters may race to restart it: the loser adds to the winner's counter on its third try.
        for expression, condition in (
            ("ADD #f :n", "#w = :w"),
            ("SET #w = :w, #f = :n", "attribute_not_exists(#w) OR #w < :w"),
            ("ADD #f :n", "#w = :w"),
        ):
            item = await self._update(expression, condition, names, values)
            if item is not None:
                fields = _strings(item)
                return int(fields.get(names["#f"], "0")), parse_records(fields)
        return 0, await self.read()

    async def trip(self, service: str, now: float, until: float) -> dict[str, ServiceRecord]:
        names = _state_names(service)
        values = {":open": {"S": "open"}, ":since": {"N": repr(now)}, ":until": {"N": repr(until)}}
        item = await self._update(
            "SET #st = :open, #since = :since, #until = :until REMOVE #lease, #win, #fails",
            "attribute_not_exists(#st) OR #st <> :open",
            names,
            values,
        )
        return parse_records(_strings(item)) if item is not None else await self.read()

    async def take_lease(self, service: str, now: float, lease_until: float) -> bool:
        names = {
            "#st": field_name(service, STATE),
            "#until": field_name(service, UNTIL),
            "#lease": field_name(service, LEASE),
        }
        values = {":open": {"S": "open"}, ":now": {"N": repr(now)}, ":lease": {"N": repr(lease_until)}}
        item = await self._update(
            "SET #lease = :lease",
            "#st = :open AND #until <= :now AND (attribute_not_exists(#lease) OR #lease <= :now)",
            names,
            values,
        )
        return item is not None

    async def settle_probe(self, service: str, verdict: FleetStateName, now: float, until: float) -> None:
        values = {
            ":open": {"S": "open"},
            ":verdict": {"S": verdict},
            ":since": {"N": repr(now)},
            ":until": {"N": repr(until)},
        }
        await self._update(
            "SET #st = :verdict, #since = :since, #until = :until REMOVE #lease, #win, #fails",
            "#st = :open",
            _state_names(service),
            values,
        )

    async def close(self) -> None:
        if self._client_task is not None and not self._client_task.done():
            self._client_task.cancel()
        self._client_task = None
        await self._exit_stack.aclose()

    async def _update(
        self, expression: str, condition: str, names: dict[str, str], values: dict[str, Any]
    ) -> dict[str, Any] | None:
        """The item after the update, or None when the condition did not hold."""
        try:
            async with asyncio.timeout(self.timeout_s):
                client = await self._client()
                response = await client.update_item(
                    TableName=self.table_name,
                    Key=self._key,
                    UpdateExpression=expression,
                    ConditionExpression=condition,
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                    ReturnValues="ALL_NEW",
                )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == _CONDITION_FAILED:
                return None
            raise
        return dict(response.get("Attributes", {}))

    async def _client(self) -> DynamoDBClient:
        if self._client_task is None or _failed(self._client_task):
            self._client_task = asyncio.get_running_loop().create_task(self._create_client())
            self._client_task.add_done_callback(_failed)
        return await asyncio.shield(self._client_task)

    async def _create_client(self) -> DynamoDBClient:
        config = AioConfig(
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=1,
            read_timeout=2,
            tcp_keepalive=True,
        )
        creator = get_session().create_client(
            "dynamodb", region_name=self._region_name, endpoint_url=self._endpoint_url, config=config
        )
        return await self._exit_stack.enter_async_context(creator)


def _state_names(service: str) -> dict[str, str]:
    return {f"#{field}": field_name(service, field) for field in (STATE, SINCE, UNTIL, LEASE, WINDOW, FAILURES)}


def _strings(item: dict[str, Any]) -> dict[str, str]:
    """DynamoDB's typed attributes as plain strings (the record holds only S and N)."""
    return {name: str(value.get("S", value.get("N", ""))) for name, value in item.items() if isinstance(value, dict)}


def _failed(task: asyncio.Task[DynamoDBClient]) -> bool:
    return task.done() and (task.cancelled() or task.exception() is not None)
