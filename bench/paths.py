"""Puts the BFF's and the mocks' sources on sys.path for benchmarks run as `python -m bench.NAME` in process, and
keeps the BFF's EMF documents and info logs off their stdout (unless the caller set those variables)."""

import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
for source in (REPO_ROOT / "functions" / "bff", REPO_ROOT / "mocks"):
    if str(source) not in sys.path:
        sys.path.insert(0, str(source))
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
