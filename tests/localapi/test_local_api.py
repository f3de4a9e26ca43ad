"""The local API behind `make dev`: SAM's API Gateway emulation in front of warm worker processes."""

from __future__ import annotations

import re
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.support.local_api import (
    LOOPBACK,
    LocalApi,
    LocalApiFactory,
    launch,
    stop,
    wait_until_ready,
)
from tests.support.mock_processes import free_port
from tests.support.tooling import REPO_ROOT
from tools.local_aws import load_template

pytestmark = pytest.mark.localapi

MOCK_LATENCY_MS = 300
PARALLEL_REQUESTS = 4


def worker_pids(parent_pid: int) -> set[int]:
    """The local API's function workers (its other child is the local AWS endpoint, a moto server)."""
    return {pid for pid in child_pids(parent_pid) if b"worker_main" in Path(f"/proc/{pid}/cmdline").read_bytes()}


def child_pids(parent_pid: int) -> set[int]:
    children = set()
    for stat_path in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The command name (field 2) may contain spaces; ppid is the second field after its closing paren.
            fields_after_name = stat_path.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields_after_name[1]) == parent_pid:
            children.add(int(stat_path.parent.name))
    return children


def is_running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_mock_route_reaches_the_mock_through_the_emulation(shared_local_api: LocalApi) -> None:
    # Given the local API serving template.yaml
    # When the product mock's route is called
    response = httpx.get(f"{shared_local_api.base_url}/products/P001", timeout=10)

    # Then the product mock answered through the API Gateway emulation
    assert response.status_code == 200
    assert response.json()["id"] == "P001"


def test_the_bff_reaches_all_three_mocks_through_the_local_api(shared_local_api: LocalApi) -> None:
    # Given the BFF pointed at the local API for its three downstream services
    # When a product-details page is requested
    response = httpx.get(f"{shared_local_api.base_url}/product-details/P001", timeout=10)

    # Then all three sections come back, none degraded
    assert response.status_code == 200
    page = response.json()
    assert page["product"]["id"] == "P001"
    assert page["reviews"]
    assert page["inventory"]["productId"] == "P001"
    assert page["meta"]["degraded"] == []


def test_concurrent_requests_are_served_by_several_warm_workers(local_api_factory: LocalApiFactory) -> None:
    # Given a product mock that takes 300 ms per request, four warm workers each, and the functions' raw logs
    api = local_api_factory(
        {"PRODUCT_MOCK_LATENCY_MS": str(MOCK_LATENCY_MS), "LOCAL_POOL_SIZE": "4", "LOCAL_VERBOSE": "1"}
    )
    url = f"{api.base_url}/products/P001"

    # When four requests arrive at once
    with httpx.Client(timeout=10) as client, ThreadPoolExecutor(PARALLEL_REQUESTS) as executor:
        statuses = list(executor.map(lambda _: client.get(url).status_code, range(PARALLEL_REQUESTS)))

    # Then four different workers answered them, rather than one in turn
    assert statuses == [200] * PARALLEL_REQUESTS
    assert len(workers_that_logged(api, "ProductMockFunction", '"path":"/products/P001"')) == PARALLEL_REQUESTS


def workers_that_logged(api: LocalApi, function: str, fragment: str) -> set[str]:
    return set(re.findall(rf"^{function}\[(\d+)\] .*{re.escape(fragment)}", api.stderr(), re.MULTILINE))


def test_every_worker_of_every_function_is_warm_before_ready(local_api_factory: LocalApiFactory) -> None:
    # Given pools of three workers
    # When the local API says it is ready
    api = local_api_factory({"LOCAL_POOL_SIZE": "3"})

    # Then three workers per function of the template (the BFF and each mock) are running, before any request
    assert len(worker_pids(api.process.pid)) == len(template_functions()) * 3


def test_a_port_in_use_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    # Given something already listening on the port
    with socket.socket() as occupant:
        occupant.bind((LOOPBACK, 0))
        occupant.listen()
        port = occupant.getsockname()[1]

        # When the local API is started on it
        api = launch(port, tmp_path)
        exit_code = api.process.wait(timeout=30)

    # Then it exits with code 2 and says why in one line
    assert exit_code == 2
    assert api.stderr().strip() == (
        f"localapi: port {port} on {LOOPBACK} is already in use; stop that process or set PORT"
    )


def test_sigint_stops_the_server_and_every_worker(tmp_path: Path) -> None:
    # Given a local API with warm workers for the BFF and the three mocks
    api = launch(free_port(), tmp_path)
    try:
        wait_until_ready(api)
        assert httpx.get(f"{api.base_url}/product-details/P001", timeout=10).status_code == 200
        workers = child_pids(api.process.pid)
        assert len(workers) >= 4
    finally:
        # When it is interrupted
        exit_code = stop(api)

    # Then it exits cleanly and leaves no worker behind
    assert exit_code == 0
    assert [pid for pid in workers if is_running(pid)] == []


def template_functions() -> list[str]:
    """The template's functions that serve API routes (the deployment hook has none, so the local API skips it)."""
    resources = load_template(REPO_ROOT / "template.yaml")["Resources"]
    return [
        name
        for name, resource in resources.items()
        if resource["Type"] == "AWS::Serverless::Function"
        and any(event["Type"] == "HttpApi" for event in (resource["Properties"].get("Events") or {}).values())
    ]
