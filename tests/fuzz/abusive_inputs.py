"""Send known-abusive inputs through the local API (started here) and print what came back as a markdown table.

.venv/bin/python -m tests.fuzz.abusive_inputs
"""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from tests.fuzz.raw_http import RawResponse, send
from tests.support.local_api import running_local_api

PAGE = "/product-details/"
MOCK_ROUTE_NOTE = (
    "`/products/P001` is the product mock's route: in the local API it shares the BFF's port, while in AWS "
    "the mocks sit on their own API (MocksApi) behind AWS_IAM auth, so an unsigned request there gets a 403."
)


@dataclass(frozen=True)
class Probe:
    label: str
    target: str
    method: str = "GET"


PROBES = [
    Probe("`..%2F`", PAGE + "..%2F"),
    Probe("`..%2Fadmin`", PAGE + "..%2Fadmin"),
    Probe("`%00`", PAGE + "%00"),
    Probe("`P001%00`", PAGE + "P001%00"),
    Probe("`%2e%2e`", PAGE + "%2e%2e"),
    Probe("`%2e%2e%2fetc%2fpasswd`", PAGE + "%2e%2e%2fetc%2fpasswd"),
    Probe("10 KB id (`A` x 10240)", PAGE + "A" * 10_240),
    Probe("`\uff30001` (fullwidth P)", PAGE + quote("\uff30001")),
    Probe("`P\uff10\uff101` (fullwidth zeros)", PAGE + quote("P\uff10\uff101")),
    Probe("`\u0420001` (Cyrillic Er)", PAGE + quote("\u0420001")),
    Probe("`P001%0d%0aX-Injected:1`", PAGE + "P001%0d%0aX-Injected:1"),
    Probe("`P001?debug=1`", PAGE + "P001?debug=1"),
    Probe("`P001/../../products/P001`", PAGE + "P001/../../products/P001"),
    Probe("`..%2F__mock%2Fstats`", PAGE + "..%2F__mock%2Fstats"),
    Probe("100 KB query string (`P001?q=` + `x` x 102400)", PAGE + "P001?q=" + "x" * 102_400),
    Probe("`P001` (baseline)", PAGE + "P001"),
    Probe("HEAD `P001` (extra)", PAGE + "P001", method="HEAD"),
    Probe("mock route `/products/P001`", "/products/P001"),
]


def problem_type(response: RawResponse) -> str:
    if not response.content_type.startswith("application/problem+json"):
        return "-"
    problem = json.loads(response.body)
    return f"`{problem['type']}`"


def table_rows(port: int) -> list[str]:
    rows = [
        "| input | status | content-type | problem type | answered by |",
        "| --- | --- | --- | --- | --- |",
    ]
    for probe in PROBES:
        response = send(port, probe.target, method=probe.method)
        answered_by = "BFF" if response.answered_by_bff else "gateway or mock (no x-correlation-id)"
        content_type = response.content_type or "-"
        rows.append(
            f"| {probe.label} | {response.status} | {content_type} | {problem_type(response)} | {answered_by} |"
        )
    return rows


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="abusive-inputs-") as log_dir, running_local_api(Path(log_dir)) as api:
        rows = table_rows(api.port)
    sys.stdout.write("\n".join([*rows, "", MOCK_ROUTE_NOTE, ""]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
