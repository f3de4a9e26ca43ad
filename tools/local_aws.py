"""Local AWS resources from template.yaml: creates its DynamoDB tables on a local endpoint (a moto server).

`make dev` and the integration tests share this, so that the tables they use are the template's own. Only boto3
and PyYAML are needed (both are in the app's and SAM CLI's virtualenvs).

    python -m tools.local_aws --endpoint-url http://127.0.0.1:5000   # prints {"LogicalId": "table name"}
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import yaml

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeDefinitionTypeDef, KeySchemaElementTypeDef

TEMPLATE = Path(__file__).resolve().parents[1] / "template.yaml"
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}


@dataclass(frozen=True)
class TableSpec:
    logical_id: str
    name: str
    key_schema: list[KeySchemaElementTypeDef]
    attribute_definitions: list[AttributeDefinitionTypeDef]
    ttl_attribute: str | None


class CloudFormationLoader(yaml.SafeLoader):
    """Reads short-form intrinsic functions (!Ref, !Sub, ...) as plain {"Fn": value} mappings."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node, deep=True)}
    assert isinstance(node, yaml.MappingNode)
    return {suffix: loader.construct_mapping(node, deep=True)}


CloudFormationLoader.add_multi_constructor("!", _intrinsic)


def load_template(template: Path = TEMPLATE) -> dict[str, Any]:
    """The template as data, its short-form intrinsic functions (!Ref, !Sub, ...) as {"Ref": ...} mappings."""
    document: dict[str, Any] = yaml.load(template.read_text(), CloudFormationLoader)  # noqa: S506 - a SafeLoader
    return document


def table_specs(template: Path = TEMPLATE) -> list[TableSpec]:
    """The template's AWS::DynamoDB::Table resources; a table without a literal TableName is named by its logical id."""
    document = load_template(template)
    specs = []
    for logical_id, resource in document.get("Resources", {}).items():
        if resource.get("Type") != "AWS::DynamoDB::Table":
            continue
        properties = resource.get("Properties", {})
        name = properties.get("TableName")
        ttl = properties.get("TimeToLiveSpecification") or {}
        specs.append(
            TableSpec(
                logical_id=logical_id,
                name=name if isinstance(name, str) else logical_id,
                key_schema=properties["KeySchema"],
                attribute_definitions=properties["AttributeDefinitions"],
                ttl_attribute=ttl.get("AttributeName") if ttl.get("Enabled") is True else None,
            )
        )
    return specs


def table_variables(function_logical_id: str, template: Path = TEMPLATE) -> dict[str, str]:
    """The function's environment variables (its own and the Globals') set to `!Ref` a table: {variable: logical id}.

    SAM's local environment cannot resolve those references, so a local run passes the tables' real names."""
    document = load_template(template)
    resources = document.get("Resources", {})
    tables = {
        logical_id for logical_id, resource in resources.items() if resource.get("Type") == "AWS::DynamoDB::Table"
    }
    global_variables = document.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    function = resources.get(function_logical_id, {}).get("Properties", {})
    own_variables = function.get("Environment", {}).get("Variables", {})
    return {
        name: value["Ref"]
        for name, value in {**global_variables, **own_variables}.items()
        if isinstance(value, dict) and value.get("Ref") in tables
    }


def dynamodb_client(endpoint_url: str, region_name: str = "eu-west-1") -> DynamoDBClient:
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint_url,
        region_name=region_name,
        aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=LOCAL_CREDENTIALS["AWS_SESSION_TOKEN"],
    )


def create_tables(endpoint_url: str, template: Path = TEMPLATE, region_name: str = "eu-west-1") -> Mapping[str, str]:
    """Creates the template's tables on `endpoint_url` (on demand, TTL as declared); existing ones are kept.

    Returns the table name of each logical id, e.g. for CACHE_TABLE_NAME."""
    client = dynamodb_client(endpoint_url, region_name)
    existing = set(client.list_tables()["TableNames"])
    for spec in table_specs(template):
        if spec.name in existing:
            continue
        client.create_table(
            TableName=spec.name,
            KeySchema=spec.key_schema,
            AttributeDefinitions=spec.attribute_definitions,
            BillingMode="PAY_PER_REQUEST",
        )
        if spec.ttl_attribute is not None:
            client.update_time_to_live(
                TableName=spec.name, TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute}
            )
    return {spec.logical_id: spec.name for spec in table_specs(template)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--endpoint-url", required=True, help="the local DynamoDB endpoint, e.g. a moto server")
    parser.add_argument("--template", type=Path, default=TEMPLATE)
    parser.add_argument("--region", default="eu-west-1")
    args = parser.parse_args(argv)
    print(json.dumps(create_tables(args.endpoint_url, args.template, args.region)))


if __name__ == "__main__":
    main()
