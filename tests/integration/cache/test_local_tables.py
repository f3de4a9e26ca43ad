"""`python -m tools.local_aws` creates the template's tables on a real moto server, as `make dev` will."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support.moto_server import REGION, MotoServer
from tests.support.tooling import REPO_ROOT
from tools.local_aws import dynamodb_client

pytestmark = pytest.mark.integration


def test_the_cli_creates_the_cache_table_with_its_ttl_and_can_run_again(moto_server: MotoServer) -> None:
    # Given a moto server whose tables were dropped
    moto_server.reset()
    client = dynamodb_client(moto_server.endpoint_url, REGION)
    client.delete_table(TableName="FragmentCacheTable")
    command = [sys.executable, "-m", "tools.local_aws", "--endpoint-url", moto_server.endpoint_url]
    # When the CLI runs twice
    runs = [
        subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False)
        for _ in range(2)
    ]
    # Then both succeed with the table names, and the table exists on demand with TTL on expires_at
    assert [run.returncode for run in runs] == [0, 0], runs[0].stderr + runs[1].stderr
    tables = {"FragmentCacheTable": "FragmentCacheTable", "IdempotencyTable": "IdempotencyTable"}
    assert [json.loads(run.stdout) for run in runs] == [tables] * 2
    table = client.describe_table(TableName="FragmentCacheTable")["Table"]
    assert table.get("BillingModeSummary", {}).get("BillingMode") == "PAY_PER_REQUEST"
    ttl = client.describe_time_to_live(TableName="FragmentCacheTable")["TimeToLiveDescription"]
    assert (ttl.get("TimeToLiveStatus"), ttl.get("AttributeName")) == ("ENABLED", "expires_at")
