"""checkov's security scan of template.yaml: clean, and every skipped check justified in docs/security.md."""

from __future__ import annotations

import json
import os
import re
import subprocess

import yaml

from tests.support.tooling import REPO_ROOT, skip_locally_fail_in_ci

CHECKOV = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"


def justified_checks() -> set[str]:
    security_doc = REPO_ROOT / "docs" / "security.md"
    section = security_doc.read_text().split("## Security scan", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `(CKV_\w+)`", section, flags=re.MULTILINE))


def skipped_checks() -> set[str]:
    config = yaml.safe_load((REPO_ROOT / ".checkov.yaml").read_text())
    in_template = set(re.findall(r"- id: (CKV_\w+)", (REPO_ROOT / "template.yaml").read_text()))
    return set(config["skip-check"]) | in_template


def test_checkov_finds_nothing_that_is_not_justified() -> None:
    if not CHECKOV.exists():
        skip_locally_fail_in_ci(".venv-checkov is missing: `make .venv-checkov/.installed` (or `make test`)")
    result = subprocess.run(
        [str(CHECKOV), "--config-file", ".checkov.yaml", "-f", "template.yaml", "--output", "json"],
        cwd=REPO_ROOT,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report["check_type"] == "cloudformation"
    assert report["summary"]["failed"] == 0
    assert report["summary"]["passed"] > 0


def test_every_skipped_check_has_a_row_in_the_readme() -> None:
    assert skipped_checks()
    assert skipped_checks() <= justified_checks()
