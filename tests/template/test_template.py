"""template.yaml validates offline, and `sam build` produces an arm64 layer that ships bytecode."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.tooling import REPO_ROOT, require_sam_venv, sam_environment

pytestmark = pytest.mark.template

ELF_MACHINE_AARCH64 = 0xB7


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
    flags = int.from_bytes(sample.read_bytes()[4:8], "little")
    assert flags == 0b01, "hash-based and unchecked: valid after SAM zips the layer"


def test_functions_ship_their_code_without_the_dependencies(built: Path) -> None:
    assert (built / "BffFunction" / "bff" / "handler.py").is_file()
    assert not (built / "BffFunction" / "fastapi").exists()
    assert (built / "ProductMockFunction" / "product_service.py").is_file()


def test_layer_requirements_match_the_lock_file() -> None:
    uv = REPO_ROOT / ".venv-tools" / "bin" / "uv"
    if not uv.exists():
        pytest.skip("uv is installed by `make`; run through make test")
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
