"""Cold-import probe: how long a fresh interpreter takes to import a module, and its RSS afterwards."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# Kept to modules a bare interpreter has already loaded, so the probe adds nothing to the measurement.
CHILD_PROBE = """
import sys, time
for loaded_first in sys.argv[3:]:
    __import__(loaded_first)
started = time.perf_counter()
__import__(sys.argv[1])
import_ms = (time.perf_counter() - started) * 1000
rss = next(line for line in open("/proc/self/status") if line.startswith("VmRSS:")).split()[1]
open(sys.argv[2], "w").write('{"import_ms": %f, "rss_kib": %s}' % (import_ms, rss))
"""


@dataclass(frozen=True, slots=True)
class ColdImport:
    module: str
    bytecode: bool
    repeats: int
    import_ms_median: float
    process_ms_median: float
    rss_kib_median: float

    @classmethod
    def of(cls, module: str, samples: Sequence[tuple[float, float, int]], *, bytecode: bool) -> ColdImport:
        """Medians of `probe_once` samples."""
        return cls(
            module=module,
            bytecode=bytecode,
            repeats=len(samples),
            import_ms_median=round(statistics.median(sample[0] for sample in samples), 2),
            process_ms_median=round(statistics.median(sample[1] for sample in samples), 2),
            rss_kib_median=statistics.median(sample[2] for sample in samples),
        )

    def metrics(self) -> dict[str, float]:
        return {
            "import_ms_median": self.import_ms_median,
            "process_ms_median": self.process_ms_median,
            "rss_kib_median": self.rss_kib_median,
        }


def probe_once(
    module: str, env: Mapping[str, str], interpreter: Sequence[str] = (sys.executable,), after: Sequence[str] = ()
) -> tuple[float, float, int]:
    """Import time (ms), whole process time (ms) and RSS after import (KiB) of one fresh interpreter; the modules
    `after` are imported first, untimed (so the time is what `module` adds to them)."""
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "probe.json"
        started = time.perf_counter()
        completed = subprocess.run(
            [*interpreter, "-c", CHILD_PROBE, module, str(out), *after],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if completed.returncode != 0:
            raise RuntimeError(f"importing {module} failed: {completed.stderr.strip()[-2000:]}")
        process_ms = (time.perf_counter() - started) * 1000
        probe = json.loads(out.read_text())
    return float(probe["import_ms"]), process_ms, int(probe["rss_kib"])


def measure_cold_import(
    module: str, env: Mapping[str, str], repeats: int, *, bytecode: bool, after: Sequence[str] = ()
) -> ColdImport:
    """Median over `repeats` fresh interpreters.

    With `bytecode`, a first untimed run fills the usual __pycache__; without it, every run reads and
    writes .pyc files only in an empty, throwaway cache prefix, so every module compiles from source
    (what a deployment package without .pyc files pays on each cold start).
    """
    with tempfile.TemporaryDirectory() as empty_cache:
        child_env = dict(env)
        if bytecode:
            # A shell's PYTHONDONTWRITEBYTECODE would leave the cache empty and time compiling, not importing.
            child_env.pop("PYTHONDONTWRITEBYTECODE", None)
            probe_once(module, child_env, after=after)
        else:
            child_env |= {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": empty_cache}
        samples = [probe_once(module, child_env, after=after) for _ in range(repeats)]
    return ColdImport.of(module, samples, bytecode=bytecode)
