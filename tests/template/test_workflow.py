"""The CI/CD workflow: pinned actions, OIDC only where it deploys, dev before prod, prod behind its environment.

`make lint` validates the file against GitHub's workflow schema (check-jsonschema); these check the intent.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from tests.support.tooling import REPO_ROOT

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "ci.yml"
PINNED = re.compile(r"^\s*- uses: [\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")


@pytest.fixture(scope="module")
def workflow() -> dict[Any, Any]:
    loaded: dict[Any, Any] = yaml.safe_load(WORKFLOW.read_text())
    return loaded


def test_every_action_is_pinned_by_commit_sha_with_its_version() -> None:
    uses = [line for line in WORKFLOW.read_text().splitlines() if "uses:" in line]
    assert uses
    assert [line for line in uses if not PINNED.match(line)] == []


def test_pull_requests_run_make_test_and_main_deploys(workflow: dict[Any, Any]) -> None:
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as True
    assert set(triggers) == {"pull_request", "push"}
    assert triggers["push"]["branches"] == ["main"]
    assert [step.get("run") for step in workflow["jobs"]["test"]["steps"]][-1] == "make test"
    assert workflow["permissions"] == {"contents": "read"}


def test_dev_deploys_with_oidc_then_runs_e2e_and_prod_waits_for_its_environment(workflow: dict[Any, Any]) -> None:
    jobs = workflow["jobs"]
    dev, prod = jobs["deploy-dev"], jobs["deploy-prod"]
    assert dev["needs"] == "test"
    assert prod["needs"] == "deploy-dev"
    assert (dev["environment"], prod["environment"]) == ("dev", "prod")
    assert "refs/heads/main" in dev["if"]
    for job in (dev, prod):
        assert job["permissions"] == {"id-token": "write", "contents": "read"}
        (credentials,) = [step for step in job["steps"] if "configure-aws-credentials" in step.get("uses", "")]
        assert credentials["with"]["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"
        assert not {"aws-access-key-id", "aws-secret-access-key"} & set(credentials["with"])
    assert [step["run"] for step in dev["steps"] if "run" in step] == [
        "make build",
        "make deploy STAGE=dev",
        "make e2e STAGE=dev",
    ]
    assert [step["run"] for step in prod["steps"] if "run" in step][-1].startswith("make deploy STAGE=prod")
    assert "id-token" not in str(jobs["test"].get("permissions", {}))
