"""The cost model: what a million product pages cost on Lambda at each memory size, from this run's figures.

Per memory size M (MB), for a subject measured in process at the seed latencies (50/80/30 ms):

- CPU share: Lambda gives a function CPU in proportion to its memory, one full vCPU at 1,769 MB. One core of
  this machine is taken as that vCPU (an assumption: Graviton2 cores and this machine's differ).
- warm duration = wait + CPU x max(1769 / M, 1), where wait = p50 - CPU of the in-process run at the seed
  latencies: the time spent waiting on the services does not shrink with memory, the CPU does.
- cold start (INIT) = the handler's import time, scaled the same way (billed since 2025-08-01).
- cost per million pages: Lambda GB-seconds (arm64) and requests, API Gateway HTTP API requests, CloudWatch
  Logs ingestion of the measured stdout bytes per page plus Lambda's own START/END/REPORT lines, X-Ray traces
  at the sampling rate, DynamoDB reads of the fragment cache's L2 on L1 misses, the INIT phase of cold starts,
  and, with SnapStart, its cache and restore charges instead of the INIT phase.

Prices: US East (N. Virginia), on-demand list prices, no free tier, checked on PRICES_CHECKED (see SOURCES).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

PRICES_CHECKED = "2026-11-30"
FULL_VCPU_MB = 1769
MEMORY_SIZES_MB = (128, 256, 512, 1024, 1769)
GO_MEMORY_MB = 128
PAGES = 1_000_000
SECONDS_PER_MONTH = 30 * 24 * 3600
MB_PER_GB = 1024
BYTES_PER_GB = 1024**3


@dataclass(frozen=True, slots=True)
class Prices:
    """USD, us-east-1, list prices as of PRICES_CHECKED."""

    lambda_arm_gb_s: float = 0.0000133334
    lambda_requests_per_million: float = 0.20
    http_api_per_million: float = 1.00
    logs_ingestion_per_gb: float = 0.50
    xray_traces_per_million: float = 5.00
    dynamodb_read_units_per_million: float = 0.125
    snapstart_cache_gb_s: float = 0.0000015046
    snapstart_restore_per_gb: float = 0.0001397998


SOURCES = {
    "Lambda GB-s (arm64) and requests": "https://aws.amazon.com/lambda/pricing/",
    "Lambda INIT phase billed from 2025-08-01": (
        "https://aws.amazon.com/blogs/compute/aws-lambda-standardizes-billing-for-init-phase/"
    ),
    "SnapStart cache and restore (Python, .NET)": "https://docs.aws.amazon.com/lambda/latest/dg/snapstart.html",
    "API Gateway HTTP API": "https://aws.amazon.com/api-gateway/pricing/",
    "CloudWatch Logs ingestion, X-Ray traces recorded": "https://aws.amazon.com/cloudwatch/pricing/",
    "DynamoDB on-demand read request units (since 2024-11-01)": "https://aws.amazon.com/dynamodb/pricing/on-demand/",
}


@dataclass(frozen=True, slots=True)
class Assumptions:
    """What the model cannot measure here; each is a parameter."""

    # X-Ray's default rule: one trace a second, then 5%; at volume the 5% dominates.
    xray_sampling: float = 0.05
    # Fragment cache (issue 10): sections per page read through it, and the L1 (in-memory) hit ratio. The L2 is
    # read only on an L1 miss; an eventually consistent read of an item under 4 KB is half a read unit.
    cached_sections: int = 3
    l1_hit_ratio: float = 0.8
    read_units_per_l2_read: float = 0.5
    # Lambda's START, END and REPORT lines for each invocation (about 100 bytes each, text format).
    platform_log_bytes: int = 300
    # Invocations that start a new execution environment (AWS: "typically under 1%").
    cold_start_ratio: float = 0.01
    # SnapStart's cache is billed per published version for as long as it is active: spread over a month's pages.
    pages_per_month: int = 10_000_000

    def l2_reads_per_page(self) -> float:
        return self.cached_sections * (1 - self.l1_hit_ratio)


@dataclass(frozen=True, slots=True)
class Profile:
    """One subject's measured figures: CPU and wait per warm page (ms), cold import (ms), stdout bytes per page."""

    subject: str
    cpu_ms: float
    wait_ms: float
    import_ms: float | None
    log_bytes: float
    uses_cache: bool
    memory_sizes_mb: Sequence[int] = MEMORY_SIZES_MB
    snapstart: bool = True


@dataclass(frozen=True, slots=True)
class CostRow:
    subject: str
    memory_mb: int
    warm_ms: float
    cold_import_ms: float | None
    lambda_compute: float
    lambda_requests: float
    api_gateway: float
    logs: float
    xray: float
    dynamodb: float
    init: float
    total: float
    snapstart_extra: float | None
    total_with_snapstart: float | None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {key: round(value, 4) if isinstance(value, float) else value for key, value in asdict(self).items()}


def cpu_scale(memory_mb: int) -> float:
    return max(FULL_VCPU_MB / memory_mb, 1.0)


def estimate(profile: Profile, memory_mb: int, prices: Prices, assumptions: Assumptions) -> CostRow:
    """Cost per million pages of one subject at one memory size."""
    gb = memory_mb / MB_PER_GB
    warm_ms = profile.wait_ms + profile.cpu_ms * cpu_scale(memory_mb)
    cold_ms = profile.import_ms * cpu_scale(memory_mb) if profile.import_ms is not None else None
    per_page_gb_s = math.ceil(warm_ms) / 1000 * gb
    compute = PAGES * per_page_gb_s * prices.lambda_arm_gb_s
    requests = prices.lambda_requests_per_million
    api = prices.http_api_per_million
    log_bytes = profile.log_bytes + assumptions.platform_log_bytes
    logs = PAGES * log_bytes / BYTES_PER_GB * prices.logs_ingestion_per_gb
    xray = assumptions.xray_sampling * prices.xray_traces_per_million
    read_units = assumptions.l2_reads_per_page() * assumptions.read_units_per_l2_read if profile.uses_cache else 0.0
    dynamodb = read_units * prices.dynamodb_read_units_per_million
    cold_starts = PAGES * assumptions.cold_start_ratio
    init = cold_starts * math.ceil(cold_ms or 0) / 1000 * gb * prices.lambda_arm_gb_s
    total = compute + requests + api + logs + xray + dynamodb + init
    snapstart_extra: float | None = None
    if profile.snapstart:
        restores = cold_starts * gb * prices.snapstart_restore_per_gb
        cache = SECONDS_PER_MONTH * gb * prices.snapstart_cache_gb_s * PAGES / assumptions.pages_per_month
        # A restore replaces the INIT phase: its import is in the snapshot, not billed again.
        snapstart_extra = restores + cache - init
    return CostRow(
        subject=profile.subject,
        memory_mb=memory_mb,
        warm_ms=round(warm_ms, 2),
        cold_import_ms=round(cold_ms, 1) if cold_ms is not None else None,
        lambda_compute=compute,
        lambda_requests=requests,
        api_gateway=api,
        logs=logs,
        xray=xray,
        dynamodb=dynamodb,
        init=init,
        total=total,
        snapstart_extra=snapstart_extra,
        total_with_snapstart=total + snapstart_extra if snapstart_extra is not None else None,
    )


def table(profiles: Sequence[Profile], prices: Prices, assumptions: Assumptions) -> list[CostRow]:
    return [estimate(p, memory, prices, assumptions) for p in profiles for memory in p.memory_sizes_mb]


@dataclass(frozen=True, slots=True)
class Recommendation:
    memory_mb: int
    reason: str


# A memory size is acceptable when its warm page is at most this much slower than the fastest size's...
WARM_SLOWDOWN_LIMIT = 1.10
# ...and a cold start's import stays under a second (without SnapStart: the page deadline is 500 ms, and a cold
# start past a second is visible to the shopper).
COLD_IMPORT_LIMIT_MS = 1000.0


def recommend(rows: Sequence[CostRow], subject: str) -> Recommendation | None:
    """The cheapest memory size whose warm p50 is within WARM_SLOWDOWN_LIMIT of the fastest and whose cold
    import stays under COLD_IMPORT_LIMIT_MS; when no size keeps the import that short (a slow or busy machine),
    the cheapest within the warm limit, saying so."""
    own = [row for row in rows if row.subject == subject]
    if not own:
        return None
    fastest = min(row.warm_ms for row in own)
    warm_enough = [row for row in own if row.warm_ms <= fastest * WARM_SLOWDOWN_LIMIT]
    quick_start = [r for r in warm_enough if r.cold_import_ms is None or r.cold_import_ms <= COLD_IMPORT_LIMIT_MS]
    best = min(quick_start or warm_enough, key=lambda row: row.total)
    cold = "n/a" if best.cold_import_ms is None else f"{best.cold_import_ms:.0f} ms"
    caveat = "" if quick_start else f"; no size within the warm limit imports in under {COLD_IMPORT_LIMIT_MS:.0f} ms"
    return Recommendation(
        best.memory_mb,
        f"{best.memory_mb} MB: ${best.total:.2f} per million pages, warm p50 about {best.warm_ms:.0f} ms "
        f"(fastest {fastest:.0f} ms, limit {WARM_SLOWDOWN_LIMIT:.2f}x), cold import about {cold} "
        f"(limit {COLD_IMPORT_LIMIT_MS:.0f} ms): the cheapest size within both{caveat}",
    )
