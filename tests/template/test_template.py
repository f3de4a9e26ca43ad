"""template.yaml validates offline, and `sam build` produces an arm64 layer that ships bytecode."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.artefacts import build_host_artefacts, import_from_artefacts
from bff.config.services import SERVICES, variable
from tests.support.tooling import REPO_ROOT, require_sam_venv, sam_environment, skip_locally_fail_in_ci
from tools.local_aws import load_template

pytestmark = pytest.mark.template

ELF_MACHINE_AARCH64 = 0xB7
UNREACHABLE_SERVICES = {variable(name, "base_url"): "http://127.0.0.1:9" for name in SERVICES}


def run_sam_tool(*args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(require_sam_venv() / "bin" / args[0]), *args[1:]],
        cwd=cwd,
        env=sam_environment(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.mark.parametrize("command", [("sam", "validate", "--lint"), ("sam", "validate"), ("cfn-lint", "template.yaml")])
def test_template_validates_offline(command: tuple[str, ...]) -> None:
    result = run_sam_tool(*command)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    build_dir = tmp_path_factory.mktemp("sam-build")
    result = run_sam_tool("sam", "build", "--build-dir", str(build_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    return build_dir


def elf_machine(path: Path) -> int:
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF"
    return int.from_bytes(header[18:20], "little")


def test_layer_holds_arm64_native_code(built: Path) -> None:
    extensions = list((built / "DependenciesLayer" / "python").rglob("*.so"))
    assert extensions, "the layer should carry pydantic-core's compiled extension"
    assert {elf_machine(path) for path in extensions} == {ELF_MACHINE_AARCH64}


def test_layer_ships_unchecked_hash_bytecode_for_every_module(built: Path) -> None:
    site = built / "DependenciesLayer" / "python"
    sources = [path for path in site.rglob("*.py") if "bin" not in path.relative_to(site).parts[:1]]
    missing = [path for path in sources if not (path.parent / "__pycache__" / f"{path.stem}.cpython-313.pyc").exists()]
    assert sources
    assert missing == []
    sample = site / "fastapi" / "__pycache__" / "applications.cpython-313.pyc"
    assert unchecked_hash_flags(sample) == 0b01, "hash-based and unchecked: valid after SAM zips the layer"


@pytest.mark.parametrize("function", ["BffFunction", "CartFunction"])
def test_bff_function_ships_unchecked_hash_bytecode_for_every_module(built: Path, function: str) -> None:
    package = built / function / "bff"
    sources = list(package.rglob("*.py"))
    compiled = [path.parent / "__pycache__" / f"{path.stem}.cpython-313.pyc" for path in sources]
    assert sources
    assert sorted(package.rglob("*.pyc")) == sorted(compiled), "one .pyc per module, and no stale local caches"
    assert {unchecked_hash_flags(path) for path in compiled} == {0b01}


def test_importing_the_built_artefacts_writes_no_bytecode(tmp_path: Path) -> None:
    # Given the artefacts built by the same Makefiles `sam build` runs, for this machine's architecture
    try:
        artefacts = build_host_artefacts(tmp_path / "artefacts", search_path=sam_environment()["PATH"])
    except RuntimeError as error:
        skip_locally_fail_in_ci(str(error))
    # When a fresh interpreter that may write bytecode imports the handler from them
    env = {**sam_environment(), **UNREACHABLE_SERVICES}
    _, pyc_written = import_from_artefacts(artefacts, "bff.handler", env, repeats=1)
    # Then every module was loaded from the shipped .pyc, none compiled again
    assert pyc_written == 0


def unchecked_hash_flags(pyc: Path) -> int:
    return int.from_bytes(pyc.read_bytes()[4:8], "little")


def test_functions_ship_their_code_without_the_dependencies(built: Path) -> None:
    assert (built / "BffFunction" / "bff" / "handler.py").is_file()
    assert not (built / "BffFunction" / "fastapi").exists()
    assert (built / "ProductMockFunction" / "product_service.py").is_file()


def test_layer_requirements_match_the_lock_file() -> None:
    uv = REPO_ROOT / ".venv-tools" / "bin" / "uv"
    if not uv.exists():
        skip_locally_fail_in_ci("uv is missing: `make .venv/.synced` installs it into .venv-tools")
    exported = subprocess.run(
        [
            str(uv),
            "export",
            "--frozen",
            "--no-dev",
            "--no-emit-project",
            "--format",
            "requirements-txt",
            "--quiet",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "UV_PROJECT_ENVIRONMENT": str(Path(sys.prefix))},
    ).stdout
    committed = (REPO_ROOT / "layers" / "deps" / "requirements.txt").read_text()
    assert requirement_lines(exported) == requirement_lines(committed)


def requirement_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith("#")]


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    loaded: dict[str, Any] = load_template(REPO_ROOT / "template.yaml")
    return loaded


def test_mocks_api_is_not_publicly_callable(template: dict[str, Any]) -> None:
    auth = template["Resources"]["MocksApi"]["Properties"]["Auth"]
    assert auth == {"EnableIamAuthorizer": True, "DefaultAuthorizer": "AWS_IAM"}


def test_bff_may_invoke_only_get_routes_and_cart_posts_of_the_mocks_api(template: dict[str, Any]) -> None:
    (policy,) = [policy for policy in template["Resources"]["BffFunction"]["Properties"]["Policies"] if "If" in policy]
    condition, granted, otherwise = policy["If"]
    assert (condition, otherwise) == ("UseAnyMock", {"Ref": "AWS::NoValue"})
    (statement,) = granted["Statement"]
    assert statement["Action"] == "execute-api:Invoke"
    assert statement["Resource"] == [
        {"Sub": "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${MocksApi}/*/GET/*"},
        {"Sub": "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${MocksApi}/*/POST/carts/*"},
    ]


def test_bff_may_only_use_single_items_of_its_own_tables(template: dict[str, Any]) -> None:
    function = template["Resources"]["BffFunction"]["Properties"]
    statements = [
        statement
        for policy in function["Policies"]
        if "Statement" in policy
        for statement in policy["Statement"]
        if any(action.startswith("dynamodb:") for action in statement["Action"])
    ]
    assert statements == [
        {
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
            "Resource": {"GetAtt": "FragmentCacheTable.Arn"},
        },
        {
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
            "Resource": {"GetAtt": "IdempotencyTable.Arn"},
        },
    ]
    assert function["Environment"]["Variables"]["CACHE_TABLE_NAME"] == {"Ref": "FragmentCacheTable"}
    assert function["Environment"]["Variables"]["IDEMPOTENCY_TABLE_NAME"] == {"Ref": "IdempotencyTable"}


def test_idempotency_table_is_on_demand_keyed_by_id_with_ttl_on_expiration(template: dict[str, Any]) -> None:
    properties = template["Resources"]["IdempotencyTable"]["Properties"]
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}


def test_the_bff_gets_each_declared_services_url_under_the_naming_rule(template: dict[str, Any]) -> None:
    variables = template["Resources"]["BffFunction"]["Properties"]["Environment"]["Variables"]
    url_variables = {name for name in variables if name.endswith("_SERVICE_URL")}
    assert url_variables == {variable(name, "base_url") for name in SERVICES}


def test_fragment_cache_table_is_on_demand_with_ttl_on_expires_at(template: dict[str, Any]) -> None:
    table = template["Resources"]["FragmentCacheTable"]
    assert table["Type"] == "AWS::DynamoDB::Table"
    properties = table["Properties"]
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}


def test_edge_settings_come_from_parameters(template: dict[str, Any]) -> None:
    api = template["Resources"]["BffApi"]["Properties"]
    assert api["DefaultRouteSettings"] == {
        "ThrottlingRateLimit": {"Ref": "ThrottlingRateLimit"},
        "ThrottlingBurstLimit": {"Ref": "ThrottlingBurstLimit"},
    }
    cors = api["CorsConfiguration"]["If"]
    assert cors[0] == "HasCorsOrigins"
    assert cors[1]["AllowOrigins"] == {"Ref": "CorsAllowedOrigins"}
    assert template["Parameters"]["CorsAllowedOrigins"]["Default"] == ""


def test_functions_run_python313_on_arm64_with_tracing(template: dict[str, Any]) -> None:
    function_globals = template["Globals"]["Function"]
    assert function_globals["Runtime"] == "python3.13"
    assert function_globals["Architectures"] == ["arm64"]
    assert function_globals["Tracing"] == "Active"
    layer = template["Resources"]["DependenciesLayer"]["Metadata"]
    assert layer == {"BuildMethod": "makefile", "BuildArchitecture": "arm64"}


def test_a_small_fraction_of_invocations_keeps_its_per_call_debug_lines(template: dict[str, Any]) -> None:
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["POWERTOOLS_LOG_LEVEL"] == {"Ref": "LogLevel"}
    assert variables["POWERTOOLS_LOGGER_SAMPLE_RATE"] == {"Ref": "DebugLogSampleRate"}
    parameter = template["Parameters"]["DebugLogSampleRate"]
    assert 0 < float(parameter["Default"]) <= 0.05
    assert (parameter["MinValue"], parameter["MaxValue"]) == (0, 1)
