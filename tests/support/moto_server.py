"""A real moto server (server mode, in a thread) on 127.0.0.1 for integration tests, with the template's tables.

Register it with `pytest_plugins = ("tests.support.moto_server",)`, or use `running_moto_server()` directly.
Reach it through `MotoServer.environment()`: botocore reads `AWS_ENDPOINT_URL_DYNAMODB` (and `_SSM`) itself.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from tools.local_aws import LOCAL_CREDENTIALS, create_tables, dynamodb_client

LOOPBACK = "127.0.0.1"
REGION = "eu-west-1"


@dataclass(frozen=True)
class MotoServer:
    endpoint_url: str
    tables: Mapping[str, str]

    def environment(self) -> dict[str, str]:
        """What a process needs to use this server as its DynamoDB and SSM endpoint, with fake credentials."""
        return {
            **LOCAL_CREDENTIALS,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL_DYNAMODB": self.endpoint_url,
            "AWS_ENDPOINT_URL_SSM": self.endpoint_url,
        }

    def table_name(self, logical_id: str) -> str:
        return self.tables[logical_id]

    def reset(self) -> None:
        """Drops every resource, then creates the template's tables again (empty)."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=5) as response:
            json.loads(response.read() or b"{}")
        create_tables(self.endpoint_url, region_name=REGION)

    def raw_item(self, logical_id: str, key: str) -> dict[str, object] | None:
        """The stored item as DynamoDB returns it, bypassing every expiry check."""
        item = dynamodb_client(self.endpoint_url, REGION).get_item(
            TableName=self.table_name(logical_id), Key={"pk": {"S": key}}, ConsistentRead=True
        )
        found = item.get("Item")
        return dict(found) if found is not None else None


@contextmanager
def running_moto_server() -> Iterator[MotoServer]:
    from moto.server import ThreadedMotoServer  # noqa: PLC0415 - seconds to import, so only when a test needs it

    server = ThreadedMotoServer(ip_address=LOOPBACK, port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint_url = f"http://{host}:{port}"
        yield MotoServer(endpoint_url, create_tables(endpoint_url, region_name=REGION))
    finally:
        server.stop()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """One moto server for the session, with the template's tables created."""
    with running_moto_server() as server:
        yield server
