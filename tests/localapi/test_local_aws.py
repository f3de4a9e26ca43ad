"""`make dev`'s local AWS: a moto server with the template's tables and the service registry, which the BFF's
discovery really reads; stopped with the local API."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

import boto3
import httpx
import pytest

from bff.config.services import SERVICES
from localapi.local_aws import REGISTRY_PATH, MotoServer, free_port, local_region, running_local_aws
from tests.support.local_api import LocalApi, LocalApiFactory, stop
from tests.support.tooling import APP_PYTHON, REPO_ROOT
from tools.local_aws import LOCAL_CREDENTIALS, table_specs

SUMMARY = re.compile(
    r"^Local AWS \(moto\) on (http://127\.0\.0\.1:\d+): tables (.+), (\d+) service URLs under (\S+)$", re.MULTILINE
)


def client(service: str, endpoint_url: str, region: str) -> object:
    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def registered_urls(endpoint_url: str, region: str) -> dict[str, str]:
    ssm = client("ssm", endpoint_url, region)
    found = ssm.get_parameters_by_path(Path=REGISTRY_PATH, Recursive=True)["Parameters"]  # type: ignore[attr-defined]
    return {parameter["Name"]: parameter["Value"] for parameter in found}


def accepts_connections(endpoint_url: str) -> bool:
    host, port = endpoint_url.removeprefix("http://").split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=0.5):
            return True
    except OSError:
        return False


def test_the_local_aws_has_the_templates_tables_and_every_service_registered(tmp_path: Path) -> None:
    # Given the local AWS started from the app's virtualenv, as `make dev` starts it
    region = local_region(os.environ)
    with running_local_aws(
        python=APP_PYTHON,
        host="127.0.0.1",
        template=REPO_ROOT / "template.yaml",
        function="BffFunction",
        services=list(SERVICES),
        api_url="http://127.0.0.1:3999",
        region=region,
    ) as local_aws:
        # Then each service's URL is this API's, under the local path; the template's tables exist
        assert registered_urls(local_aws.endpoint_url, region) == {
            f"{REGISTRY_PATH}{name}/url": "http://127.0.0.1:3999" for name in SERVICES
        }
        tables = client("dynamodb", local_aws.endpoint_url, region).list_tables()["TableNames"]  # type: ignore[attr-defined]
        assert {spec.name for spec in table_specs()} <= set(tables)
        # And the BFF is told where and what, with the tables' real names rather than the template's !Ref
        environment = local_aws.bff_environment()
        assert environment["SERVICE_REGISTRY_PATH"] == REGISTRY_PATH == "/product-bff/local/services/"
        assert environment["AWS_ENDPOINT_URL_SSM"] == environment["AWS_ENDPOINT_URL_DYNAMODB"] == local_aws.endpoint_url
        assert environment["CACHE_TABLE_NAME"] in tables
        assert environment["AWS_ACCESS_KEY_ID"] == "testing"
        endpoint_url = local_aws.endpoint_url
    # And the moto server stops with the block
    assert not accepts_connections(endpoint_url)


@pytest.mark.localapi
def test_make_dev_finds_the_mocks_through_the_local_registry(local_api_factory: LocalApiFactory) -> None:
    # Given `make dev` with no service URL anywhere (the template's are blanked locally)
    shell = dict.fromkeys(("PRODUCT_SERVICE_URL", "REVIEWS_SERVICE_URL", "REVIEW_SERVICE_URL"), "")
    api = local_api_factory(shell)

    # Then it announced its local AWS in one line
    summary = SUMMARY.search(api.stdout())
    assert summary is not None, api.stdout()
    endpoint_url, tables, count, path = summary.groups()
    assert "FragmentCacheTable" in tables
    assert (int(count), path) == (len(SERVICES), REGISTRY_PATH)
    assert set(registered_urls(endpoint_url, local_region(os.environ)).values()) == {api.base_url}

    # When the page is requested, then the BFF found every mock through SSM
    response = httpx.get(f"{api.base_url}/product-details/P001", timeout=15)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["product"]["id"] == "P001"
    assert body["meta"]["degraded"] == []

    # And stopping the local API stops the moto server
    stop(api)
    assert not accepts_connections(endpoint_url)


@pytest.mark.localapi
def test_a_shell_service_url_beats_the_local_registry(local_api_factory: LocalApiFactory, tmp_path: Path) -> None:
    # Given the registry points product at the local API, but the shell points it at a closed port
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    api: LocalApi = local_api_factory({"PRODUCT_SERVICE_URL": closed})

    # When the page is requested, then the explicit URL was used: product (critical) failed
    response = httpx.get(f"{api.base_url}/product-details/P001", timeout=15)
    assert response.status_code == 502, response.text


def children_of(pid: int) -> dict[int, str]:
    """The child processes of `pid` with their command lines (Linux /proc)."""
    children: dict[int, str] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):  # a thread or child that has just ended
            for child in (task / "children").read_text().split():
                children[int(child)] = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    return children


def moto_pid(api: LocalApi) -> int:
    [pid] = [pid for pid, command in children_of(api.process.pid).items() if "moto.server" in command]
    return pid


def is_gone(pid: int) -> bool:
    """Reaped: no process left, not even a zombie waiting for its parent."""
    return not Path(f"/proc/{pid}").exists()


def is_dead(pid: int) -> bool:
    """Ended: gone, or a zombie its parent has not reaped yet."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):
        return True


def wait_for(condition: Callable[[], bool], timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


@pytest.mark.localapi
def test_a_moto_server_that_dies_is_reaped_and_restarted_and_new_workers_start(
    local_api_factory: LocalApiFactory,
) -> None:
    # Given `make dev` serving pages through its local registry
    api = local_api_factory({})
    assert httpx.get(f"{api.base_url}/product-details/P001", timeout=15).status_code == 200
    dead = moto_pid(api)

    # When its moto server is killed
    os.kill(dead, signal.SIGKILL)

    # Then the console says so and that it restarted; the dead process does not linger as a zombie
    assert wait_for(lambda: "local AWS (moto) restarted on" in api.stderr()), api.stderr()
    assert f"exited with -{signal.SIGKILL.value} " in api.stderr()
    assert wait_for(lambda: is_gone(dead))
    assert moto_pid(api) != dead
    # And a BFF worker that starts afterwards (its cold start reads the registry again) serves the page
    killed = [pid for pid, command in children_of(api.process.pid).items() if "--function-name=BffFunction" in command]
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: all(is_dead(pid) for pid in killed))  # (a request sent before that would reach one)
    response = httpx.get(f"{api.base_url}/product-details/P001", timeout=15)
    assert response.status_code == 200, (response.text, api.stderr())
    assert response.json()["meta"]["degraded"] == []


@pytest.mark.localapi
def test_a_moto_server_that_keeps_dying_stops_make_dev_with_one_line(local_api_factory: LocalApiFactory) -> None:
    # Given `make dev` whose moto server was killed and restarted
    api = local_api_factory({})
    os.kill(moto_pid(api), signal.SIGKILL)
    assert wait_for(lambda: "local AWS (moto) restarted on" in api.stderr()), api.stderr()

    # When the restarted one dies too
    os.kill(moto_pid(api), signal.SIGKILL)

    # Then the local API stops, its last line saying why, and leaves no process behind
    exit_code = api.process.wait(30)
    last_line = api.stderr().strip().splitlines()[-1]
    assert exit_code == 2
    assert last_line.startswith("localapi: local AWS (moto) on http://127.0.0.1:")
    assert last_line.endswith("again within 30 s of its restart; stopping")


def test_the_moto_server_is_out_of_reach_of_a_terminals_ctrl_c() -> None:
    # Given the moto server as `make dev` starts it
    server = MotoServer(APP_PYTHON, "127.0.0.1", free_port("127.0.0.1"))
    server.start()
    try:
        assert server.process is not None
        # Then it leads a process group of its own: Ctrl-C (SIGINT to the terminal's foreground group) reaches the
        # local API, which stops it, and cannot kill it first, which the supervisor would take for a crash
        assert os.getpgid(server.process.pid) == server.process.pid != os.getpgid(0)
    finally:
        server.close()
    assert server.process.returncode is not None
