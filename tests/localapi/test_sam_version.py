"""localapi is written against one SAM CLI release, the one tools/sam-requirements.txt installs."""

from __future__ import annotations

import re

from localapi.sam_version import SAM_CLI_VERSION, sam_cli_problem
from tests.support.tooling import REPO_ROOT


def test_the_version_localapi_expects_is_the_pinned_one() -> None:
    # Given the pin that `make dev` installs
    requirements = (REPO_ROOT / "tools" / "sam-requirements.txt").read_text()

    # Then localapi expects that very version
    assert re.findall(r"^aws-sam-cli==(\S+)$", requirements, re.MULTILINE) == [SAM_CLI_VERSION]


def test_a_missing_sam_cli_is_one_line_naming_the_fix() -> None:
    # Given the app's interpreter, which has no SAM CLI
    # When the version is checked
    problem = sam_cli_problem()

    # Then it says so in one line
    assert problem is not None
    assert "\n" not in problem
    assert "make dev" in problem
