"""The `sam build` artefacts, rebuilt for this machine's architecture so that they can be imported here.

`sam build` builds the layer for arm64 (Lambda's architecture), whose native extensions cannot load on an
x86_64 machine. This runs the two Makefiles SAM runs (`layers/deps`, `functions/bff`) with the wheel platform
changed to the host's and nothing else, so what is imported is what ships: the same files and the same
bytecode. The import runs in the base interpreter without its site-packages (`-S`), with only the artefacts
on its path as in Lambda (/var/task, then /opt/python), and may write bytecode: any .pyc it writes or rewrites
is counted.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bench.coldimport import ColdImport, probe_once

REPO_ROOT = Path(__file__).resolve().parent.parent
WHEEL_PLATFORMS = {
    "x86_64": "--platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64",
    "aarch64": "--platform manylinux_2_28_aarch64 --platform manylinux2014_aarch64",
}


@dataclass(frozen=True, slots=True)
class Artefacts:
    function_dir: Path
    layer_dir: Path
    base_python: Path

    @property
    def sys_path(self) -> list[Path]:
        return [self.function_dir, self.layer_dir]


def base_python313(search_path: str | None = None) -> Path | None:
    """A python3.13 with pip, outside any virtualenv (the Makefiles run `python3.13 -m pip`)."""
    found = shutil.which("python3.13", path=search_path)
    if found is None:
        return None
    resolved = subprocess.run(
        [found, "-c", "import sys; print(sys._base_executable)"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return Path(resolved) if resolved else None


def build_host_artefacts(destination: Path, search_path: str | None = None) -> Artefacts:
    """Runs the layer's and the function's Makefiles as `sam build` does, for this machine's architecture."""
    machine = platform.machine()
    python = base_python313(search_path)
    if machine not in WHEEL_PLATFORMS or python is None:
        raise RuntimeError(f"cannot rebuild the artefacts here (machine {machine}, python3.13 {python})")
    shutil.rmtree(destination, ignore_errors=True)
    targets = [
        ("layers/deps", "build-DependenciesLayer", destination / "layer"),
        ("functions/bff", "build-BffFunction", destination / "function"),
    ]
    for directory, target, artefacts_dir in targets:
        subprocess.run(
            [
                "make",
                "--no-print-directory",
                "-C",
                str(REPO_ROOT / directory),
                target,
                f"ARTIFACTS_DIR={artefacts_dir}",
                f"PYTHON={python}",
                f"PLATFORMS={WHEEL_PLATFORMS[machine]}",
            ],
            check=True,
            capture_output=True,
        )
    return Artefacts(destination / "function", destination / "layer" / "python", python)


def bytecode_snapshot(artefacts: Artefacts) -> dict[Path, int]:
    return {path: path.stat().st_mtime_ns for directory in artefacts.sys_path for path in directory.rglob("*.pyc")}


def import_from_artefacts(
    artefacts: Artefacts, module: str, env: Mapping[str, str], repeats: int
) -> tuple[ColdImport, int]:
    """Median import time and RSS over `repeats` fresh interpreters, and how many .pyc files they wrote."""
    child_env = {key: value for key, value in env.items() if not key.startswith(("PYTHON", "VIRTUAL_ENV"))}
    child_env["PYTHONPATH"] = os.pathsep.join(str(entry) for entry in artefacts.sys_path)
    command = [str(artefacts.base_python), "-S"]
    before = bytecode_snapshot(artefacts)
    samples = [probe_once(module, child_env, command) for _ in range(repeats)]
    after = bytecode_snapshot(artefacts)
    written = sum(1 for path, mtime in after.items() if before.get(path) != mtime)
    return ColdImport.of(module, samples, bytecode=True), written


if __name__ == "__main__":
    built = build_host_artefacts(Path(sys.argv[1]))
    measured, pyc_written = import_from_artefacts(built, "bff.handler", os.environ, 5)
    print(measured, f"pyc written: {pyc_written}")
