"""The fleet's breaker state on DynamoDB: one item (`pk` = `fleet-breaker`) in the fragment cache's table, holding
every service's fields, so that a refresh is one eventually consistent GetItem (half a read unit). Changes are
conditional UpdateItems that return the new item, so a failure report also refreshes the environment's copy.

The client is the L2 store's (bff.cache.dynamodb.DynamoDbConnection: one per environment, created once in the
running loop, one attempt, the page's deadline as its socket timeouts); every operation here is cut to the fleet's
own `timeout_s`."""

from __future__ import annotations

import asyncio
from typing import Any

from botocore.exceptions import ClientError

from bff.cache.dynamodb import THROTTLING_CODES, DynamoDbConnection
from bff.cache.fleet_state import (
    FAILURES,
    FIELDS,
    LEASE,
    REPEATS,
    STATE,
    UNTIL,
    WINDOW,
    FleetStateName,
    ServiceRecord,
    StoreBusyError,
    WindowTally,
    field_name,
    parse_records,
)

ITEM_KEY = "fleet-breaker"
_CONDITION_FAILED = "ConditionalCheckFailedException"


class DynamoDbFleetStore:
    """A FleetStore in one item of `table_name`, over `connection` (the L2's, so that an environment keeps one
    DynamoDB client; by default one of its own)."""

    def __init__(
        self,
        table_name: str,
        connection: DynamoDbConnection | None = None,
        *,
        timeout_s: float = 0.05,
        item_key: str = ITEM_KEY,
    ) -> None:
        self.table_name = table_name
        self.timeout_s = timeout_s
        self.connection = connection or DynamoDbConnection()
        self._key = {"pk": {"S": item_key}}

    async def read(self, timeout_s: float | None = None) -> dict[str, ServiceRecord]:
        async with asyncio.timeout(timeout_s or self.timeout_s):
            client = await self.connection.client()
            response = await client.get_item(TableName=self.table_name, Key=self._key)
        return parse_records(_strings(response.get("Item", {})))

    async def report_failures(self, service: str, failures: int, repeats: int, window: int) -> WindowTally:
        names = {
            "#w": field_name(service, WINDOW),
            "#f": field_name(service, FAILURES),
            "#r": field_name(service, REPEATS),
        }
        values = {":w": {"N": str(window)}, ":n": {"N": str(failures)}, ":r": {"N": str(repeats)}}
        # The window's counters grow while it is the current one; the first report of a later window restarts them.
        # Two reporters may race to restart them: the loser adds to the winner's counters on its third try.
        for expression, condition in (
            ("ADD #f :n, #r :r", "#w = :w"),
            ("SET #w = :w, #f = :n, #r = :r", "attribute_not_exists(#w) OR #w < :w"),
            ("ADD #f :n, #r :r", "#w = :w"),
        ):
            item = await self._update(expression, condition, names, values)
            if item is not None:
                fields = _strings(item)
                failed, repeated = (int(fields.get(names[name], "0")) for name in ("#f", "#r"))
                return WindowTally(failed, repeated, parse_records(fields))
        return WindowTally(0, 0, await self.read())

    async def trip(self, service: str, now: float, until: float) -> dict[str, ServiceRecord]:
        names = _state_names(service)
        values = {":open": {"S": "open"}, ":since": {"N": repr(now)}, ":until": {"N": repr(until)}}
        item = await self._update(
            "SET #st = :open, #since = :since, #until = :until REMOVE #lease, #win, #fails, #repeats",
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
            "SET #st = :verdict, #since = :since, #until = :until REMOVE #lease, #win, #fails, #repeats",
            "#st = :open",
            _state_names(service),
            values,
        )

    async def close(self) -> None:
        """Closes the client (shared with the L2, which closes it too: both reopen on first use)."""
        await self.connection.close()

    async def _update(
        self, expression: str, condition: str, names: dict[str, str], values: dict[str, Any]
    ) -> dict[str, Any] | None:
        """The item after the update, or None when the condition did not hold; StoreBusyError when throttled."""
        try:
            async with asyncio.timeout(self.timeout_s):
                client = await self.connection.client()
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
            code = error.response.get("Error", {}).get("Code")
            if code == _CONDITION_FAILED:
                return None
            if code in THROTTLING_CODES:
                raise StoreBusyError(code) from error
            raise
        return dict(response.get("Attributes", {}))


def _state_names(service: str) -> dict[str, str]:
    return {f"#{field}": field_name(service, field) for field in FIELDS}


def _strings(item: dict[str, Any]) -> dict[str, str]:
    """DynamoDB's typed attributes as plain strings (the record holds only S and N)."""
    return {name: str(value.get("S", value.get("N", ""))) for name, value in item.items() if isinstance(value, dict)}
