"""`make dev`'s local AWS: a moto server (DynamoDB and SSM), started from the app's virtualenv, with the template's
tables and the service registry of this local API, so that the BFF's cache and its service discovery run locally as
they do in AWS, with no account.

The registry holds `/product-bff/local/services/{name}/url` = this local API's URL for each service the BFF declares
(its mocks are routes of the same API). The BFF gets the path, the endpoints (botocore's AWS_ENDPOINT_URL_DYNAMODB
and AWS_ENDPOINT_URL_SSM), fake credentials and the tables' real names.
"""

from __future__ import annotations

import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import boto3

from tools.local_aws import LOCAL_CREDENTIALS, create_tables, table_variables

REGISTRY_PATH = "/product-bff/local/services/"
START_TIMEOUT_S = 30.0
DEFAULT_REGION = "us-east-1"


class LocalAwsError(Exception):
    pass


def local_region(environ: Mapping[str, str]) -> str:
    """The region SAM gives the functions (and so the one their boto3 clients, and our resources, live in)."""
    return environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION


@dataclass(frozen=True)
class LocalAws:
    endpoint_url: str
    region: str
    tables: Mapping[str, str]  # logical id -> table name
    table_variables: Mapping[str, str]  # variable -> table name
    service_urls: Mapping[str, str]  # service -> URL, as registered

    def bff_environment(self) -> dict[str, str]:
        return {
            **LOCAL_CREDENTIALS,
            "AWS_ENDPOINT_URL_DYNAMODB": self.endpoint_url,
            "AWS_ENDPOINT_URL_SSM": self.endpoint_url,
            "SERVICE_REGISTRY_PATH": REGISTRY_PATH,
            # moto answers in 5-20 ms, against DynamoDB's single digits: the deployed 25 ms read timeout would make
            # the local shared cache miss on every other read.
            "CACHE_L2_TIMEOUT_MS": "250",
            "CACHE_L2_WRITE_TIMEOUT_MS": "250",
            **self.table_variables,
        }

    def summary(self) -> str:
        return (
            f"Local AWS (moto) on {self.endpoint_url}: tables {', '.join(sorted(self.tables.values())) or 'none'}, "
            f"{len(self.service_urls)} service URLs under {REGISTRY_PATH}"
        )


def free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def register_services(endpoint_url: str, region: str, urls: Mapping[str, str]) -> None:
    ssm = boto3.client(
        "ssm",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=LOCAL_CREDENTIALS["AWS_SESSION_TOKEN"],
    )
    for name, url in urls.items():
        ssm.put_parameter(Name=f"{REGISTRY_PATH}{name}/url", Value=url, Type="String", Overwrite=True)


@contextmanager
def running_local_aws(
    *, python: Path, host: str, template: Path, function: str, services: Iterable[str], api_url: str, region: str
) -> Iterator[LocalAws]:
    """A moto server from `python` (the app's virtualenv, which has moto[server]) on a free port, filled, until the
    block ends; LocalAwsError when it does not come up."""
    port = free_port(host)
    endpoint_url = f"http://{host}:{port}"
    with tempfile.TemporaryFile() as stderr:
        command = [str(python), "-m", "moto.server", "-H", host, "-p", str(port)]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)  # noqa: S603 - our own venv
        try:
            _wait_until_answering(process, host, port, stderr)
            tables = create_tables(endpoint_url, template, region)
            urls = dict.fromkeys(services, api_url)
            register_services(endpoint_url, region, urls)
            variables = {name: tables[logical_id] for name, logical_id in table_variables(function, template).items()}
            yield LocalAws(endpoint_url, region, dict(tables), variables, urls)
        finally:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_answering(process: subprocess.Popen[bytes], host: str, port: int, stderr: IO[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise LocalAwsError(f"the moto server exited with {process.returncode}: {_last_line(stderr)}")
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise LocalAwsError(f"the moto server did not answer on {host}:{port} within {START_TIMEOUT_S:.0f} s")


def _last_line(stderr: IO[bytes]) -> str:
    stderr.seek(0)
    lines = stderr.read().decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else "no output"
