"""What a bench run is configured with and what each case produces."""

from dataclasses import dataclass, field
from pathlib import Path

from bench.services import GoBinaries

GO_REFERENCE = "go-reference"
NAIVE = "naive"
# FastAPI + Mangum + bare aiohttp, three GETs, no logs: the least CPU this stack can spend (bench/baselines/floor).
FLOOR = "floor"
CONTENDER = "contender"
# The contender asked for one product again and again, so its sections come from its fragment cache (L1): what
# a popular page costs. "contender" itself gets a new product id per request, so that every section is a miss
# and it makes the same three downstream calls as the floor and the baselines.
CONTENDER_CACHED = "contender, sections cached"
BASELINES = (GO_REFERENCE, NAIVE, FLOOR)
# Conditions of the import and hitratio cases that the summary reads back.
AS_DEPLOYED_CONDITION = "from the build artefacts, with the DynamoDB fragment cache (as deployed)"
DEPENDENCY_CONDITION = "added after the handler:"
HIT_RATIO_CONDITION = "1,000 pages over 100 ids, 10 at a time"
FLEET_LATENCY_CONDITION = "page latency beside the shared breaker's store"
FLEET_SHARED_REDIS = "shared (redis)"
# The fleet case's noise rows: a healthy service failing this share of its calls, at N environments.
FLEET_NOISE_CONDITION = "noise {share:.1%} of calls failing, {count} environments"
DEFAULT_RESULTS = Path(__file__).resolve().parent / "results"

type Metric = float | int | str


class GoMissingError(RuntimeError):
    """A case needs the Go mocks, and no Go toolchain was found to build them."""


@dataclass(frozen=True, slots=True)
class Settings:
    handler: str
    app: str
    sys_path: tuple[Path, ...]
    go: GoBinaries | None
    load_seconds: float = 3.0
    import_repeats: int = 3
    results: Path = DEFAULT_RESULTS

    def require_go(self) -> GoBinaries:
        if self.go is None:
            raise GoMissingError
        return self.go

    @property
    def handler_module(self) -> str:
        return self.handler.partition(":")[0] if ":" in self.handler else self.handler.rpartition(".")[0]


@dataclass(frozen=True, slots=True)
class Measurement:
    subject: str
    condition: str
    metrics: dict[str, Metric]
    latencies_ms: list[float] = field(default_factory=list, repr=False)


@dataclass(slots=True)
class CaseOutcome:
    name: str
    title: str
    key_metrics: tuple[str, ...]
    measurements: list[Measurement] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None
