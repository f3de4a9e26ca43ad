"""Prints template.yaml as CloudFormation, transformed by SAM's own translator (aws-sam-translator), as JSON.

Run with .venv-sam's python: aws-sam-translator is pinned there together with SAM CLI (in the app's virtualenv it
would pull pydantic below the version the Lambda layer ships). Offline: no managed-policy lookups, no AWS calls.
Usage: python sam_transform.py TEMPLATE [PARAMETERS_JSON]
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

PSEUDO_PARAMETERS = {"AWS::Region": "eu-west-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws"}


class OfflinePolicyLoader:
    """SAM asks for the managed-policy map only for policies named without an ARN; this template names none."""

    def load(self) -> dict[str, str]:
        return {}


def as_packaged(template: dict[str, Any]) -> dict[str, Any]:
    """Local code paths become S3 URIs, as `sam package` (or `sam deploy`) would upload them."""
    for name, resource in template["Resources"].items():
        for key in ("CodeUri", "ContentUri"):
            if key in resource.get("Properties", {}):
                resource["Properties"][key] = f"s3://artefacts/{name}.zip"
    return template


def main(template_path: str, parameters: dict[str, Any]) -> None:
    os.environ["AWS_DEFAULT_REGION"] = PSEUDO_PARAMETERS["AWS::Region"]  # SAM reads it through boto3
    template = as_packaged(yaml_parse(Path(template_path).read_text()))
    transformed = transform(template, {**PSEUDO_PARAMETERS, **parameters}, OfflinePolicyLoader())
    json.dump(transformed, sys.stdout, indent=1, default=str)


if __name__ == "__main__":
    main(sys.argv[1], json.loads(sys.argv[2]) if len(sys.argv) > 2 else {})
