"""Instructions per warm invocation, counted by valgrind's callgrind: a figure the machine's speed does not move.

CPU time on this machine drifts by 1.5x within an hour, so a ratio of two CPU times from one run is as good as it
gets; an instruction count is the same on every run. The probe (bench.inprocess) runs under callgrind twice, with
`SHORT` and `LONG` timed invocations after the same warm-up: the difference, divided by the difference in
invocations, leaves out the interpreter's start, the imports and the warm-up. Callgrind runs code about fifty
times slower, so deadlines and hedge timers would fire that never fire at full speed: the probe runs with
generous timeouts and hedge delays (`SLOW_MOTION`: every call still arms its hedge, none fires), and only subjects
whose deadlines are configurable are counted (the naive build's 500 ms deadline is fixed in its code).
"""

import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

CONDITION = "warm, 0/0/0 ms mocks, callgrind"
SHORT, LONG = 30, 130
WARMUP = 20
SLOW_MOTION = {
    "PAGE_DEADLINE_MS": "20000",
    "CONNECT_TIMEOUT_MS": "10000",
    **{f"{name}_TIMEOUT_MS": "19000" for name in ("PRODUCT", "REVIEWS", "INVENTORY", "CART")},
    # Armed (each call still races a hedge timer, as in production) but never reached.
    **{f"{name}_HEDGE_DELAY_MS": "10000" for name in ("PRODUCT", "REVIEWS", "INVENTORY")},
}
_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")


class ValgrindMissingError(RuntimeError):
    """valgrind is not installed, so instructions cannot be counted."""


def collected(valgrind_log: str) -> int:
    """The instruction count callgrind reports at exit (`==123== Collected : 2961278206`)."""
    found = _COLLECTED.search(valgrind_log)
    if found is None:
        raise RuntimeError(f"callgrind reported no count: {valgrind_log.strip()[-500:]}")
    return int(found.group(1))


def per_invocation(short_total: int, long_total: int) -> int:
    return (long_total - short_total) // (LONG - SHORT)


def _count(handler: str, invocations: int, env: Mapping[str, str], extra: Sequence[str]) -> int:
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise ValgrindMissingError
    with tempfile.TemporaryDirectory() as scratch:
        command = [
            valgrind,
            "--tool=callgrind",
            f"--callgrind-out-file={scratch}/callgrind.out",
            sys.executable,
            "-m",
            "bench.inprocess",
            handler,
            f"--warmup={WARMUP}",
            f"--invocations={invocations}",
            f"--out={Path(scratch) / 'result.json'}",
            *extra,
        ]
        completed = subprocess.run(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=900, check=False
        )
    if completed.returncode != 0:
        raise RuntimeError(f"callgrind probe failed ({completed.returncode}): {completed.stderr.strip()[-2000:]}")
    return collected(completed.stderr)


def instructions_per_invocation(handler: str, env: Mapping[str, str], extra: Sequence[str] = ()) -> int:
    slow_env = {**env, **SLOW_MOTION}
    return per_invocation(_count(handler, SHORT, slow_env, extra), _count(handler, LONG, slow_env, extra))
