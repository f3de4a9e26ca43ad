"""tools/stack_outputs.py and the deploy targets: credentials are checked first, the API URL comes from the stack.

Nothing leaves the machine: AWS endpoints point at 127.0.0.1, instance metadata is off, config files are empty.
"""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs

import pytest
from botocore.exceptions import ClientError  # type: ignore[import-untyped, unused-ignore]

from tests.support.tooling import REPO_ROOT, require_sam_venv
from tools.stack_outputs import StackError, output_value, stack_name

TOOL = REPO_ROOT / "tools" / "stack_outputs.py"
CLOSED_PORT_URL = "http://127.0.0.1:9"
DEV_URL = "https://abc123.execute-api.eu-west-1.amazonaws.com"


class FakeCloudFormation:
    def __init__(self, stacks: Mapping[str, dict[str, Any]]) -> None:
        self.stacks = stacks
        self.asked: list[str] = []

    def describe_stacks(self, *, StackName: str) -> dict[str, Any]:  # noqa: N803 - boto3's parameter name
        self.asked.append(StackName)
        if StackName not in self.stacks:
            error = {"Error": {"Code": "ValidationError", "Message": f"Stack with id {StackName} does not exist"}}
            raise ClientError(error, "DescribeStacks")  # type: ignore[arg-type]  # the stubs want a TypedDict
        return {"Stacks": [self.stacks[StackName]]}


def stack(**outputs: str) -> dict[str, Any]:
    return {
        "StackName": "product-bff-dev",
        "StackStatus": "UPDATE_COMPLETE",
        "Outputs": [{"OutputKey": key, "OutputValue": value} for key, value in outputs.items()],
    }


def test_the_url_is_the_stacks_bff_api_url_output() -> None:
    # Given a stack with the BFF's and the mocks' URLs as outputs
    cloudformation = FakeCloudFormation({"product-bff-dev": stack(MocksApiUrl="https://mocks", BffApiUrl=DEV_URL)})
    # When the URL is read
    # Then it is the BffApiUrl output of that stack
    assert output_value(cloudformation, "product-bff-dev") == DEV_URL
    assert cloudformation.asked == ["product-bff-dev"]


def test_a_missing_stack_or_output_is_one_line_that_names_the_stack() -> None:
    cloudformation = FakeCloudFormation({"product-bff-dev": stack(MocksApiUrl="https://mocks")})
    with pytest.raises(StackError, match=r"^stack product-bff-prod not found \(.*\): deploy it") as missing:
        output_value(cloudformation, "product-bff-prod")
    with pytest.raises(StackError, match=r"^stack product-bff-dev \(UPDATE_COMPLETE\) has no output BffApiUrl$"):
        output_value(cloudformation, "product-bff-dev")
    assert "\n" not in str(missing.value)


def test_stages_are_samconfig_environments_that_never_ask() -> None:
    # Given samconfig.toml
    config = tomllib.loads((REPO_ROOT / "samconfig.toml").read_text())
    # Then each stage has its own stack, deploys without --guided answers, and only prod confirms its change set
    for stage in ("dev", "prod"):
        deploy = config[stage]["deploy"]["parameters"]
        assert stack_name(stage) == f"product-bff-{stage}"
        assert deploy["capabilities"] == "CAPABILITY_IAM"
        assert deploy["resolve_s3"] is True
        assert "parameter_overrides" in deploy
        assert deploy["confirm_changeset"] is (stage == "prod")
    # And no region is written down: it comes from the environment or the AWS profile
    assert [section for section in config.values() if isinstance(section, dict) and "region" in str(section)] == []
    with pytest.raises(StackError, match="stage 'qa' has no stack_name"):
        stack_name("qa")


def offline_aws_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """No AWS variable from the caller, empty config files, and every AWS endpoint on loopback."""
    empty = tmp_path / "empty"
    empty.touch()
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(
        AWS_CONFIG_FILE=str(empty),
        AWS_SHARED_CREDENTIALS_FILE=str(empty),
        AWS_EC2_METADATA_DISABLED="true",
        AWS_ENDPOINT_URL_STS=CLOSED_PORT_URL,
        AWS_ENDPOINT_URL_CLOUDFORMATION=CLOSED_PORT_URL,
        AWS_MAX_ATTEMPTS="1",
    )
    env.update(overrides)
    return env


def run_tool(env: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(TOOL), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


FAKE_KEYS = {"AWS_ACCESS_KEY_ID": "AKIAFAKEFAKEFAKEFAKE", "AWS_SECRET_ACCESS_KEY": "fake"}


@pytest.mark.parametrize(
    ("env", "line"),
    [
        ({"AWS_REGION": "eu-west-1"}, "no AWS credentials: set AWS_PROFILE"),
        ({"AWS_DEFAULT_REGION": "eu-west-1", **FAKE_KEYS}, "AWS credentials not usable: Could not connect"),
        (FAKE_KEYS, "no AWS region: set AWS_REGION"),
    ],
    ids=["no-credentials", "sts-unreachable", "no-region"],
)
def test_the_credential_check_fails_with_one_line(tmp_path: Path, env: dict[str, str], line: str) -> None:
    # When the credentials are checked without usable credentials or region
    result = run_tool(offline_aws_env(tmp_path, **env), "check-credentials")
    # Then it exits non-zero with one line that says what to do
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(line)


class FakeAws(http.server.BaseHTTPRequestHandler):
    """STS GetCallerIdentity and CloudFormation DescribeStacks in the AWS query protocol."""

    bodies: ClassVar[dict[str, str]] = {
        "GetCallerIdentity": "<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/t"
        "</Arn><UserId>AIDAFAKE</UserId><Account>123456789012</Account></GetCallerIdentityResult>"
        "</GetCallerIdentityResponse>",
        "DescribeStacks": "<DescribeStacksResponse><DescribeStacksResult><Stacks><member>"
        "<StackName>product-bff-dev</StackName><StackStatus>CREATE_COMPLETE</StackStatus>"
        "<CreationTime>2026-11-30T00:00:00Z</CreationTime><Outputs><member><OutputKey>BffApiUrl</OutputKey>"
        f"<OutputValue>{DEV_URL}</OutputValue></member></Outputs></member></Stacks></DescribeStacksResult>"
        "</DescribeStacksResponse>",
    }
    requests: ClassVar[list[dict[str, list[str]]]] = []

    def do_POST(self) -> None:
        form = parse_qs(self.rfile.read(int(self.headers["content-length"])).decode())
        self.requests.append(form)
        body = self.bodies[form["Action"][0]].encode()
        self.send_response(200)
        self.send_header("content-type", "text/xml")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def fake_aws() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeAws)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FakeAws.requests.clear()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_with_credentials_the_check_is_silent_and_the_url_comes_from_the_stage_stack(
    tmp_path: Path, fake_aws: str
) -> None:
    # Given credentials that STS accepts, and a deployed dev stack
    env = offline_aws_env(
        tmp_path,
        AWS_REGION="eu-west-1",
        AWS_ENDPOINT_URL_STS=fake_aws,
        AWS_ENDPOINT_URL_CLOUDFORMATION=fake_aws,
        **FAKE_KEYS,
    )
    # When the credentials are checked and the dev URL is read
    check = run_tool(env, "check-credentials")
    url = run_tool(env, "url", "--stage", "dev")
    # Then the check says nothing, and the URL is the dev stack's output
    assert (check.returncode, check.stdout, check.stderr) == (0, "", "")
    assert (url.returncode, url.stdout, url.stderr) == (0, f"{DEV_URL}\n", "")
    assert [(form["Action"], form.get("StackName")) for form in FakeAws.requests] == [
        (["GetCallerIdentity"], None),
        (["DescribeStacks"], ["product-bff-dev"]),
    ]


@pytest.mark.parametrize("target", ["deploy", "delete", "e2e STAGE=dev"])
def test_make_stops_with_one_line_before_building_when_there_are_no_credentials(tmp_path: Path, target: str) -> None:
    # Given SAM CLI installed, no AWS credentials, and a region
    require_sam_venv()
    env = offline_aws_env(tmp_path, AWS_REGION="eu-west-1")
    for outer in ("STAGE", "BFF_URL", "MAKEFLAGS", "MFLAGS", "MAKELEVEL"):
        env.pop(outer, None)
    # When a target that needs AWS runs
    result = subprocess.run(
        ["make", "-s", *target.split()],
        check=False,
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # Then make stops with the one line, before `sam build` or pytest ran
    assert result.returncode != 0
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert "no AWS credentials: set AWS_PROFILE" in result.stderr
