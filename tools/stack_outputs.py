"""AWS checks for `make deploy`, `make delete` and `make e2e STAGE=...`; runs with .venv-sam's boto3.

    python tools/stack_outputs.py check-credentials     nothing and exit 0, or one line on stderr and exit 1
    python tools/stack_outputs.py url --stage dev       the stage's BffApiUrl output, from describe-stacks

A stage's stack name comes from samconfig.toml (`[<stage>.global.parameters] stack_name`), the one place it is set.
"""

from __future__ import annotations

import argparse
import os
import sys
import tomllib
from pathlib import Path
from typing import Any, Protocol

import boto3  # type: ignore[import-untyped, unused-ignore]
from botocore.exceptions import (  # type: ignore[import-untyped, unused-ignore]
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
)

SAMCONFIG = Path(__file__).resolve().parents[1] / "samconfig.toml"
URL_OUTPUT = "BffApiUrl"
NO_CREDENTIALS = (
    "no AWS credentials: set AWS_PROFILE (after `aws sso login` or `aws configure`) or AWS_ACCESS_KEY_ID and "
    "AWS_SECRET_ACCESS_KEY, then run this again"
)
NO_REGION = "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION, or a region in your AWS profile)"


class StackError(Exception):
    """Why a stage's stack output cannot be read, in one line."""


class CloudFormation(Protocol):
    def describe_stacks(self, *, StackName: str) -> dict[str, Any]: ...  # noqa: N803 - boto3's parameter name


def aws_session() -> Any:
    """AWS_REGION first, as the AWS CLI and the other SDKs read it; boto3 itself reads only AWS_DEFAULT_REGION."""
    return boto3.session.Session(region_name=os.environ.get("AWS_REGION") or None)


def credentials_problem() -> str | None:
    """None when STS GetCallerIdentity answers, else why not in one line."""
    session = aws_session()
    if session.region_name is None:
        return NO_REGION
    try:
        session.client("sts").get_caller_identity()
    except (NoCredentialsError, PartialCredentialsError):
        return NO_CREDENTIALS
    except NoRegionError:
        return NO_REGION
    except (BotoCoreError, ClientError) as error:
        return f"AWS credentials not usable: {one_line(str(error))}"
    return None


def stack_name(stage: str, samconfig: Path = SAMCONFIG) -> str:
    config = tomllib.loads(samconfig.read_text())
    name = config.get(stage, {}).get("global", {}).get("parameters", {}).get("stack_name")
    if not isinstance(name, str):
        raise StackError(f"stage {stage!r} has no stack_name in {samconfig.name}")
    return name


def output_value(cloudformation: CloudFormation, stack: str, key: str = URL_OUTPUT) -> str:
    try:
        (described,) = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as error:
        raise StackError(f"stack {stack} not found ({one_line(str(error))}): deploy it with `make deploy`") from error
    outputs = {output["OutputKey"]: output["OutputValue"] for output in described.get("Outputs", [])}
    if key not in outputs:
        raise StackError(f"stack {stack} ({described.get('StackStatus', 'unknown status')}) has no output {key}")
    value: str = outputs[key]
    return value


def one_line(text: str) -> str:
    return " ".join(text.split())


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tools/stack_outputs.py", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check-credentials", help="STS GetCallerIdentity; one line and exit 1 when it fails")
    url = commands.add_parser("url", help=f"print the stage's {URL_OUTPUT} stack output")
    url.add_argument("--stage", required=True)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.command == "check-credentials":
        problem = credentials_problem()
        if problem is not None:
            print(problem, file=sys.stderr)
            return 1
        return 0
    try:
        print(output_value(aws_session().client("cloudformation"), stack_name(args.stage)))
    except StackError as error:
        print(error, file=sys.stderr)
        return 1
    except (BotoCoreError, ClientError) as error:
        print(f"cannot read the stack outputs: {one_line(str(error))}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
