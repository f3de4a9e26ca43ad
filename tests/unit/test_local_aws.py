"""tools/local_aws reads the template's DynamoDB tables as CloudFormation declares them."""

from __future__ import annotations

from pathlib import Path

from tools.local_aws import TEMPLATE, TableSpec, table_specs

TEMPLATE_WITH_TABLES = """
Resources:
  Named:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: literal-name
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
  Generated:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub "${AWS::StackName}-generated"
      KeySchema: [{AttributeName: pk, KeyType: HASH}, {AttributeName: sk, KeyType: RANGE}]
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}, {AttributeName: sk, AttributeType: N}]
      TimeToLiveSpecification: {AttributeName: ttl, Enabled: true}
  Function:
    Type: AWS::Serverless::Function
    Properties:
      Environment: {Variables: {TABLE: !Ref Named}}
"""


def test_tables_are_read_with_their_keys_ttl_and_a_local_name(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(TEMPLATE_WITH_TABLES)
    assert table_specs(template) == [
        TableSpec(
            "Named",
            "literal-name",
            [{"AttributeName": "id", "KeyType": "HASH"}],
            [{"AttributeName": "id", "AttributeType": "S"}],
            None,
        ),
        TableSpec(
            "Generated",
            "Generated",
            [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"}],
            "ttl",
        ),
    ]


def test_the_project_template_declares_the_fragment_cache_and_idempotency_tables() -> None:
    spec, idempotency = table_specs(TEMPLATE)
    assert (spec.logical_id, spec.name, spec.ttl_attribute) == (
        "FragmentCacheTable",
        "FragmentCacheTable",
        "expires_at",
    )
    assert spec.key_schema == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert (idempotency.logical_id, idempotency.name, idempotency.ttl_attribute) == (
        "IdempotencyTable",
        "IdempotencyTable",
        "expiration",
    )
    assert idempotency.key_schema == [{"AttributeName": "id", "KeyType": "HASH"}]
