"""A client from the contract: TypeScript types generated from the OpenAPI document (openapi-typescript), and the
demo page's code checked against them (tsc), so that a frontend team sees a broken contract as a compile error.

Node.js is Debian's, the packages are pinned in demo/package-lock.json and installed by `make node` (make test
does it). The committed types and the page's compiled JavaScript must be what the current document and source
give: `make client` regenerates both.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.tooling import REPO_ROOT, skip_locally_fail_in_ci
from tools.openapi_document import document

DEMO = REPO_ROOT / "demo"
BIN = DEMO / "node_modules" / ".bin"
TYPES = DEMO / "src" / "api.d.ts"
COMPILED = DEMO / "static" / "app.js"
RUN_TIMEOUT_S = 120


def tool(name: str) -> Path:
    path = BIN / name
    if not path.exists():
        skip_locally_fail_in_ci(
            f"{path.relative_to(REPO_ROOT)} is missing: `make node` installs Node.js and the demo's packages"
        )
    return path


def run(*command: str | Path, cwd: Path = DEMO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command], cwd=cwd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False
    )


def generated_types(directory: Path) -> Path:
    source = directory / "openapi.json"
    source.write_bytes(document())
    output = directory / "api.d.ts"
    generated = run(tool("openapi-typescript"), source, "--output", output)
    assert generated.returncode == 0, generated.stderr
    return output


def test_the_committed_types_are_those_of_the_current_document(tmp_path: Path) -> None:
    # When the types are generated from the document the app serves now
    # Then they are the committed ones: a contract change without `make client` fails here
    assert generated_types(tmp_path).read_text() == TYPES.read_text(), "run `make client`"


def test_the_demo_page_type_checks_against_the_contract() -> None:
    checked = run(tool("tsc"), "--noEmit", "-p", ".")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_served_script_is_the_compiled_typescript(tmp_path: Path) -> None:
    compiled = run(tool("tsc"), "-p", ".", "--outDir", tmp_path)
    assert compiled.returncode == 0, compiled.stdout
    assert (tmp_path / "app.js").read_text() == COMPILED.read_text(), "run `make client`"


@pytest.mark.parametrize(
    ("field", "renamed"),
    [("priceFormatted", "priceText"), ("degraded", "degradedSections"), ("GatewayMessage", "GatewayAnswer")],
)
def test_a_broken_contract_is_a_compile_error(tmp_path: Path, field: str, renamed: str) -> None:
    # Given the demo page's source against types where the document renamed something the page reads
    project = tmp_path / "demo"
    shutil.copytree(DEMO / "src", project / "src")
    shutil.copy(DEMO / "tsconfig.json", project / "tsconfig.json")
    types = project / "src" / "api.d.ts"
    types.write_text(re.sub(rf"\b{field}\b", renamed, types.read_text()))
    # When it is type-checked
    checked = run(tool("tsc"), "--noEmit", "-p", ".", cwd=project)
    # Then the compiler refuses it, naming what the page still reads
    assert checked.returncode != 0
    assert field in checked.stdout
