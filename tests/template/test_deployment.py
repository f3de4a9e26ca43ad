"""template.yaml as CloudFormation (SAM's own translator, offline): safe deployments, the hook, the registry, IAM.

These stand in for a deployment: they check what CloudFormation would be asked to create, not that AWS accepts it.
"""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bff.config.services import SERVICES
from tests.support.tooling import REPO_ROOT, require_sam_venv, sam_environment

pytestmark = pytest.mark.template

TRANSFORM = Path(__file__).with_name("sam_transform.py")
VERSION_NUMBER = {"Fn::Select": [7, {"Fn::Split": [":", {"Ref": "<version>"}]}]}
REGISTRY_ARN = "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/product-bff/${Stage}/services"


def transformed(
    parameters: dict[str, str] | None = None, template: Path = REPO_ROOT / "template.yaml"
) -> dict[str, Any]:
    result = subprocess.run(
        [str(require_sam_venv() / "bin" / "python"), str(TRANSFORM), str(template), json.dumps(parameters or {})],
        env=sam_environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    loaded: dict[str, Any] = json.loads(result.stdout)
    return loaded


@pytest.fixture(scope="module")
def cfn() -> dict[str, Any]:
    return transformed()


def resources_of_type(cfn: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: resource for name, resource in cfn["Resources"].items() if resource["Type"] == kind}


def version_id(cfn: dict[str, Any], function: str = "BffFunction") -> str:
    """The logical id of the version SAM publishes for `function` (the pages' by default)."""
    (name,) = (name for name in resources_of_type(cfn, "AWS::Lambda::Version") if name.startswith(f"{function}Version"))
    return name


def version_number(cfn: dict[str, Any]) -> dict[str, Any]:
    number: dict[str, Any] = json.loads(json.dumps(VERSION_NUMBER).replace("<version>", version_id(cfn)))
    return number


def statements(role: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every inline statement of a role, in both branches of conditional policies."""
    for policy in role["Properties"].get("Policies", []):
        branches = policy["Fn::If"][1:] if "Fn::If" in policy else [policy]
        for branch in branches:
            if isinstance(branch, dict) and "PolicyDocument" in branch:
                yield from branch["PolicyDocument"]["Statement"]


def test_the_bff_publishes_a_version_and_a_live_alias_on_it(cfn: dict[str, Any]) -> None:
    alias = cfn["Resources"]["BffFunctionAliaslive"]
    assert alias["Type"] == "AWS::Lambda::Alias"
    assert alias["Properties"]["Name"] == "live"
    assert alias["Properties"]["FunctionVersion"] == {"Fn::GetAtt": [version_id(cfn), "Version"]}


def test_a_configuration_only_change_publishes_a_new_version(tmp_path: Path) -> None:
    # Given the template with only an environment value changed (AutoPublishAliasAllProperties)
    source = (REPO_ROOT / "template.yaml").read_text()
    changed = source.replace("POWERTOOLS_SERVICE_NAME: product-bff", "POWERTOOLS_SERVICE_NAME: product-bff-changed")
    assert changed != source
    (tmp_path / "template.yaml").write_text(changed)
    # When both are transformed, Then the version resources differ (CloudFormation publishes a new version)
    assert version_id(transformed(template=tmp_path / "template.yaml")) != version_id(transformed())


def test_the_http_api_integration_and_permission_target_the_alias(cfn: dict[str, Any]) -> None:
    api = cfn["Resources"]["BffApi"]["Properties"]["Body"]
    integration = api["paths"]["/product-details/{productId}"]["get"]["x-amazon-apigateway-integration"]
    assert "${BffFunctionAliaslive}" in integration["uri"]["Fn::Sub"]
    permission = cfn["Resources"]["BffFunctionProductDetailsPermission"]["Properties"]
    assert permission["FunctionName"] == {"Ref": "BffFunctionAliaslive"}


def test_codedeploy_shifts_traffic_with_the_parameter_type_and_rolls_back_on_the_alarms(cfn: dict[str, Any]) -> None:
    group = cfn["Resources"]["BffFunctionDeploymentGroup"]["Properties"]
    assert group["DeploymentConfigName"]["Fn::Sub"][1] == {"ConfigName": "Canary10Percent5Minutes"}
    assert group["AlarmConfiguration"] == {
        "Enabled": True,
        "Alarms": [
            {"Name": {"Ref": name}} for name in ("BffErrorRatioAlarm", "BffLatencyAlarm", "BffDegradedRatioAlarm")
        ],
    }
    assert "DEPLOYMENT_STOP_ON_ALARM" in group["AutoRollbackConfiguration"]["Events"]
    update = cfn["Resources"]["BffFunctionAliaslive"]["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]
    assert update["DeploymentGroupName"] == {"Ref": "BffFunctionDeploymentGroup"}
    assert update["BeforeAllowTrafficHook"] == {"Ref": "PreTrafficHook"}


def test_dev_deploys_all_at_once() -> None:
    group = transformed({"DeploymentType": "AllAtOnce"})["Resources"]["BffFunctionDeploymentGroup"]["Properties"]
    assert group["DeploymentConfigName"]["Fn::Sub"][1] == {"ConfigName": "AllAtOnce"}


def test_samconfig_stages_set_their_stage_and_deployment_type() -> None:
    config = tomllib.loads((REPO_ROOT / "samconfig.toml").read_text())
    overrides = {
        stage: dict(item.split("=", 1) for item in config[stage]["deploy"]["parameters"]["parameter_overrides"].split())
        for stage in ("dev", "prod")
    }
    assert (overrides["dev"]["Stage"], overrides["dev"]["DeploymentType"]) == ("dev", "AllAtOnce")
    assert (overrides["prod"]["Stage"], overrides["prod"]["DeploymentType"]) == ("prod", "Canary10Percent5Minutes")


def metric_stats(alarm: dict[str, Any]) -> list[dict[str, Any]]:
    return [query["MetricStat"] for query in alarm["Properties"].get("Metrics", []) if "MetricStat" in query]


def dimensions(metric: dict[str, Any]) -> dict[str, Any]:
    return {item["Name"]: item["Value"] for item in metric["Dimensions"]}


def test_the_5xx_ratio_alarm_divides_the_new_versions_5xx_by_all_its_responses(cfn: dict[str, Any]) -> None:
    alarm = cfn["Resources"]["BffErrorRatioAlarm"]
    errors, responses = metric_stats(alarm)
    scoped = {"service": "product-bff", "FunctionVersion": version_number(cfn)}
    assert (errors["Metric"]["MetricName"], dimensions(errors["Metric"])) == (
        "Responses",
        {**scoped, "StatusClass": "5xx"},
    )
    assert (responses["Metric"]["MetricName"], dimensions(responses["Metric"])) == ("Responses", scoped)
    assert {errors["Period"], responses["Period"]} == {60}
    (expression,) = [query for query in alarm["Properties"]["Metrics"] if query.get("ReturnData")]
    assert expression["Expression"] == "FILL(errors, 0) / responses"
    assert alarm["Properties"]["Threshold"] == {"Ref": "ErrorRatioThreshold"}


def test_the_degraded_ratio_alarm_divides_degraded_pages_by_responses(cfn: dict[str, Any]) -> None:
    alarm = cfn["Resources"]["BffDegradedRatioAlarm"]
    degraded, responses = metric_stats(alarm)
    assert (degraded["Metric"]["MetricName"], responses["Metric"]["MetricName"]) == ("DegradedResponses", "Responses")
    assert dimensions(degraded["Metric"])["FunctionVersion"] == version_number(cfn)
    assert alarm["Properties"]["Threshold"] == {"Ref": "DegradedRatioThreshold"}


def test_the_latency_alarm_compares_the_new_versions_p99_with_the_page_deadline(cfn: dict[str, Any]) -> None:
    alarm = cfn["Resources"]["BffLatencyAlarm"]["Properties"]
    assert (alarm["MetricName"], alarm["ExtendedStatistic"], alarm["Period"]) == ("PageLatency", "p99", 60)
    assert {item["Name"]: item["Value"] for item in alarm["Dimensions"]}["FunctionVersion"] == version_number(cfn)
    assert alarm["Threshold"] == {"Ref": "PageDeadlineMs"}


def test_every_alarm_treats_missing_data_as_fine_and_reads_the_metrics_namespace(cfn: dict[str, Any]) -> None:
    alarms = resources_of_type(cfn, "AWS::CloudWatch::Alarm")
    assert set(alarms) == {"BffErrorRatioAlarm", "BffLatencyAlarm", "BffDegradedRatioAlarm"}
    for alarm in alarms.values():
        properties = alarm["Properties"]
        assert properties["TreatMissingData"] == "notBreaching"
        namespaces = [stat["Metric"]["Namespace"] for stat in metric_stats(alarm)] or [properties["Namespace"]]
        assert set(map(json.dumps, namespaces)) == {json.dumps({"Ref": "MetricsNamespace"})}
    template = yaml.safe_load(re.sub(r"!\w+", "", (REPO_ROOT / "template.yaml").read_text()))
    assert {template["Parameters"][name]["Default"] for name in ("ErrorRatioThreshold", "DegradedRatioThreshold")} == {
        0.05,
        0.2,
    }


def test_the_hook_is_a_codedeploy_hook_that_may_only_invoke_the_new_version_and_report(cfn: dict[str, Any]) -> None:
    hook = cfn["Resources"]["PreTrafficHook"]["Properties"]
    assert hook["FunctionName"]["Fn::Sub"].startswith("CodeDeployHook_")
    assert hook["Environment"]["Variables"]["TARGET_VERSION_ARN"] == {"Ref": version_id(cfn)}
    assert list(statements(cfn["Resources"]["PreTrafficHookRole"])) == [
        {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": {"Ref": version_id(cfn)}},
        {
            "Effect": "Allow",
            "Action": "codedeploy:PutLifecycleEventHookExecutionStatus",
            "Resource": {
                "Fn::Sub": "arn:${AWS::Partition}:codedeploy:${AWS::Region}:${AWS::AccountId}:deploymentgroup:"
                "${ServerlessDeploymentApplication}/${BffFunctionDeploymentGroup}"
            },
        },
    ]


def test_the_bff_may_read_only_its_stages_service_registry(cfn: dict[str, Any]) -> None:
    function = cfn["Resources"]["BffFunction"]["Properties"]
    assert function["Environment"]["Variables"]["SERVICE_REGISTRY_PATH"] == {
        "Fn::Sub": "/product-bff/${Stage}/services/"
    }
    ssm = [
        statement
        for statement in statements(cfn["Resources"]["BffFunctionRole"])
        if "ssm:GetParametersByPath" in statement["Action"]
    ]
    assert ssm == [
        {
            "Effect": "Allow",
            "Action": ["ssm:GetParametersByPath", "ssm:GetParameter", "ssm:GetParameters"],
            "Resource": [{"Fn::Sub": REGISTRY_ARN}, {"Fn::Sub": REGISTRY_ARN + "/*"}],
        }
    ]
    other = [statement for statement in statements(cfn["Resources"]["BffFunctionRole"]) if statement not in ssm]
    assert not any(action.startswith("ssm:") for statement in other for action in as_list(statement["Action"]))


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("role", ["BffFunctionRole", "CartFunctionRole", "PreTrafficHookRole"])
def test_no_inline_statement_grants_any_resource(cfn: dict[str, Any], role: str) -> None:
    # Tracing's xray:PutTraceSegments needs "*": it comes from the AWSXrayWriteOnlyAccess managed policy, not inline.
    found = list(statements(cfn["Resources"][role]))
    assert found
    assert [statement for statement in found if "*" in as_list(statement["Resource"])] == []
    assert all(statement["Effect"] == "Allow" and "*" not in json.dumps(statement["Action"]) for statement in found)


def test_the_mocks_publish_their_urls_in_the_registry_when_deployed(cfn: dict[str, Any]) -> None:
    parameters = resources_of_type(cfn, "AWS::SSM::Parameter")
    published = {resource["Properties"]["Name"]["Fn::Sub"]: resource["Condition"] for resource in parameters.values()}
    # One per declared service, each published only when its mock is deployed
    assert published == {
        f"/product-bff/${{Stage}}/services/{name}/url": f"Use{name.capitalize()}Mock" for name in SERVICES
    }
    for resource in parameters.values():
        assert resource["Properties"]["Type"] == "String"
        assert "${MocksApi}.execute-api" in resource["Properties"]["Value"]["Fn::Sub"]


def test_every_function_logs_to_a_log_group_with_the_retention_parameter(cfn: dict[str, Any]) -> None:
    groups = resources_of_type(cfn, "AWS::Logs::LogGroup")
    assert {group["Properties"]["RetentionInDays"]["Ref"] for group in groups.values()} == {"LogRetentionInDays"}
    functions = resources_of_type(cfn, "AWS::Lambda::Function")
    for name, function in functions.items():
        logging_config = function["Properties"].get("LoggingConfig")
        if logging_config:
            assert logging_config["LogGroup"]["Ref"] in groups
        else:
            names = [group["Properties"]["LogGroupName"] for group in groups.values()]
            assert {"Fn::Sub": f"/aws/lambda/${{{name}}}"} in names, name


def test_concurrency_settings_are_off_unless_given(cfn: dict[str, Any]) -> None:
    function = cfn["Resources"]["BffFunction"]["Properties"]
    assert function["ReservedConcurrentExecutions"]["Fn::If"][0] == "HasReservedConcurrency"
    provisioned = cfn["Resources"]["BffFunctionAliaslive"]["Properties"]["ProvisionedConcurrencyConfig"]
    assert provisioned["Fn::If"][0] == "HasProvisionedConcurrency"
    assert cfn["Conditions"]["HasProvisionedConcurrency"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "ProvisionedConcurrency"}, 0]}]
    }


def evaluate(value: Any, parameters: dict[str, str]) -> Any:
    """Just enough of CloudFormation's intrinsic functions for the mapping key."""
    if isinstance(value, dict) and len(value) == 1:
        ((name, argument),) = value.items()
        if name == "Fn::Sub":
            return re.sub(r"\$\{([\w:]+)\}", lambda match: parameters[match.group(1)], argument)
        if name == "Fn::Split":
            return evaluate(argument[1], parameters).split(argument[0])
        if name == "Fn::Select":
            return evaluate(argument[1], parameters)[argument[0]]
    return value


@pytest.mark.parametrize(("base_path", "mapping_key"), [("/shop", "shop"), ("/eu/shop", "eu/shop")])
def test_the_custom_domain_maps_the_api_under_the_base_path_without_its_slash(
    cfn: dict[str, Any], base_path: str, mapping_key: str
) -> None:
    mapping = cfn["Resources"]["BffApiMapping"]
    assert mapping["Condition"] == "HasCustomDomain"
    condition, key, otherwise = mapping["Properties"]["ApiMappingKey"]["Fn::If"]
    assert (condition, otherwise) == ("HasApiBasePath", {"Ref": "AWS::NoValue"})
    assert evaluate(key, {"ApiBasePath": base_path}) == mapping_key
    variables = cfn["Resources"]["BffFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["API_BASE_PATH"] == {"Ref": "ApiBasePath"}
    domain = cfn["Resources"]["BffApiDomain"]["Properties"]
    assert domain["DomainNameConfigurations"][0]["CertificateArn"] == {"Ref": "CertificateArn"}


def test_trace_export_picks_the_otlp_endpoint_and_the_sampling_rate_is_opentelemetrys(cfn: dict[str, Any]) -> None:
    variables = cfn["Resources"]["BffFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["OTEL_TRACES_SAMPLER_ARG"] == {"Ref": "TracingSampleRate"}
    assert variables["OTEL_PROPAGATORS"] == "tracecontext,xray-lambda"
    collector, local, otherwise = variables["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]["Fn::If"]
    assert (collector, local) == ("ExportViaCollector", "http://127.0.0.1:4318/v1/traces")
    xray, endpoint, off = otherwise["Fn::If"]
    assert (xray, off) == ("ExportToXRayOtlp", "")
    assert evaluate(endpoint, {"AWS::Region": "eu-west-1"}) == "https://xray.eu-west-1.amazonaws.com/v1/traces"
    # The X-Ray SDK's sampling rule is gone with the SDK
    assert not resources_of_type(cfn, "AWS::XRay::SamplingRule")


def test_the_collector_layer_rides_beside_the_dependencies_only_when_spans_go_through_it(
    cfn: dict[str, Any],
) -> None:
    dependencies, collector = cfn["Resources"]["BffFunction"]["Properties"]["Layers"]
    assert dependencies["Ref"].startswith("DependenciesLayer")
    condition, layer, otherwise = collector["Fn::If"]
    assert (condition, otherwise) == ("ExportViaCollector", {"Ref": "AWS::NoValue"})
    parameters = {"AWS::Partition": "aws", "AWS::Region": "eu-west-1", "CollectorLayer": "111122223333:layer:c:1"}
    assert evaluate(layer, parameters) == "arn:aws:lambda:eu-west-1:111122223333:layer:c:1"


def test_the_dashboard_shows_responses_latency_degraded_pages_downstreams_and_cache(cfn: dict[str, Any]) -> None:
    body = cfn["Resources"]["BffDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    values = {"AWS::Region": "eu-west-1", "MetricsNamespace": "ProductBff", "PageDeadlineMs": "500"}
    dashboard = json.loads(re.sub(r"\$\{([\w:]+)\}", lambda match: values.get(match.group(1), "0.2"), body))
    expressions = [
        query["expression"]
        for widget in dashboard["widgets"]
        for line in widget["properties"]["metrics"]
        for query in line
        if isinstance(query, dict)
    ]
    assert len(dashboard["widgets"]) == 5
    for needle in (
        'SELECT SUM(Responses) FROM SCHEMA("ProductBff", service, FunctionVersion, StatusClass)',
        "MetricName=\"PageLatency\"', 'p50', 60)",
        "MetricName=\"PageLatency\"', 'p99', 60)",
        'MetricName="DegradedResponses"',
        # Per-service and per-section names in the invocation's one document (docs/observability.md,
        # "one document per invocation")
        '{ProductBff,service,FunctionVersion} service="product-bff" (MetricName="ProductLatency" OR',
        'MetricName="InventoryLatency"',
        'MetricName="ProductL1Hits" OR MetricName="ProductL2Hits"',
        'MetricName="ReviewsMisses"',
        "hits / (hits + misses)",
    ):
        assert any(needle in expression for expression in expressions), needle


def test_the_bff_api_writes_access_logs_to_a_group_with_the_retention_parameter(cfn: dict[str, Any]) -> None:
    stage = cfn["Resources"]["BffApiApiGatewayDefaultStage"]["Properties"]
    assert stage["AccessLogSettings"]["DestinationArn"] == {"Fn::GetAtt": ["BffApiAccessLogGroup", "Arn"]}
    fields = json.loads(stage["AccessLogSettings"]["Format"])
    assert {"requestId", "status", "integrationError"} <= set(fields)
    group = cfn["Resources"]["BffApiAccessLogGroup"]["Properties"]
    assert group["RetentionInDays"] == {"Ref": "LogRetentionInDays"}


def test_the_cart_routes_run_in_their_own_function_with_reserved_concurrency(cfn: dict[str, Any]) -> None:
    # The routes' integrations: pages to BffFunction's alias, the cart routes to CartFunction's
    resources = cfn["Resources"]
    permissions = {
        name: resource["Properties"]["FunctionName"]["Ref"]
        for name, resource in resources_of_type(cfn, "AWS::Lambda::Permission").items()
        if resource["Properties"].get("Principal") == "apigateway.amazonaws.com"
    }
    assert {name: alias for name, alias in permissions.items() if name.startswith(("BffFunction", "CartFunction"))} == {
        "BffFunctionProductDetailsPermission": "BffFunctionAliaslive",
        "BffFunctionProductDetailsBatchPermission": "BffFunctionAliaslive",
        "BffFunctionOpenApiDocumentPermission": "BffFunctionAliaslive",
        "CartFunctionGetCartPermission": "CartFunctionAliaslive",
        "CartFunctionAddCartItemPermission": "CartFunctionAliaslive",
    }
    page, cart = resources["BffFunction"]["Properties"], resources["CartFunction"]["Properties"]
    # The same code and settings, a concurrency of its own, so a write-path incident cannot take the pages' capacity
    assert cart["Handler"] == page["Handler"]
    assert cart["Environment"] == page["Environment"]
    assert list(statements(resources["CartFunctionRole"])) == list(statements(resources["BffFunctionRole"]))
    assert cart["Timeout"] == page["Timeout"]
    assert cart["ReservedConcurrentExecutions"] == {
        "Fn::If": ["HasCartReservedConcurrency", {"Ref": "CartReservedConcurrency"}, {"Ref": "AWS::NoValue"}]
    }
    assert cfn["Parameters"]["CartReservedConcurrency"]["Default"] == "20"
    assert page["ReservedConcurrentExecutions"]["Fn::If"][0] == "HasReservedConcurrency"
