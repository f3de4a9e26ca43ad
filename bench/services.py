"""The servers a case runs against: the common Go mocks, the Go reference BFF and uvicorn-served ASGI apps."""

import contextlib
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.procs import HOST, free_port, python_env, running

GO_SOURCE = Path(__file__).resolve().parent / "baselines" / "go"
GO_BUILD_DIR = Path(__file__).resolve().parent / ".build"
SAMPLE_PRODUCT_ID = "42"


@dataclass(frozen=True, slots=True)
class GoBinaries:
    mocks: Path
    bff: Path


@dataclass(frozen=True, slots=True)
class MockLatency:
    product_ms: int = 50
    reviews_ms: int = 80
    inventory_ms: int = 30
    reviews_tail_rate: float = 0.0
    reviews_tail_ms: int = 400

    @property
    def label(self) -> str:
        tail = f", reviews {self.reviews_tail_rate:.0%} at {self.reviews_tail_ms}" if self.reviews_tail_rate else ""
        return f"{self.product_ms}/{self.reviews_ms}/{self.inventory_ms} ms{tail}"


INSTANT = MockLatency(0, 0, 0)
REFERENCE = MockLatency()


@dataclass(frozen=True, slots=True)
class MockServices:
    product_url: str
    reviews_url: str
    inventory_url: str

    def as_env(self) -> dict[str, str]:
        return {
            "PRODUCT_SERVICE_URL": self.product_url,
            "REVIEW_SERVICE_URL": self.reviews_url,
            "INVENTORY_SERVICE_URL": self.inventory_url,
            # The product page never calls the cart; the BFF only needs every declared service to have a URL.
            "CART_SERVICE_URL": self.inventory_url,
        }


def build_go() -> GoBinaries | None:
    """Build the Go reference into bench/.build; None when no Go toolchain is installed."""
    go = shutil.which("go")
    if go is None:
        return None
    GO_BUILD_DIR.mkdir(exist_ok=True)
    subprocess.run([go, "build", "-o", f"{GO_BUILD_DIR}/", "./cmd/..."], cwd=GO_SOURCE, check=True)
    return GoBinaries(mocks=GO_BUILD_DIR / "mocks", bff=GO_BUILD_DIR / "bff")


def details_url(base_url: str) -> str:
    """A new product id for each request (bench.loadgen fills in `{n}`): every contender calls its services."""
    return f"{base_url}/product-details/{{n}}"


@contextlib.contextmanager
def go_mocks(binaries: GoBinaries, latency: MockLatency) -> Iterator[MockServices]:
    ports = [free_port() for _ in range(3)]
    urls = [f"http://{HOST}:{port}" for port in ports]
    services = MockServices(*urls)
    command = [
        str(binaries.mocks),
        f"-host={HOST}",
        f"-product-port={ports[0]}",
        f"-reviews-port={ports[1]}",
        f"-inventory-port={ports[2]}",
        f"-product-ms={latency.product_ms}",
        f"-reviews-ms={latency.reviews_ms}",
        f"-inventory-ms={latency.inventory_ms}",
        f"-tail-rate={latency.reviews_tail_rate}",
        f"-tail-ms={latency.reviews_tail_ms}",
    ]
    ready = [f"{urls[0]}/products/ready", f"{urls[1]}/reviews/ready", f"{urls[2]}/inventory/ready"]
    with running(command, ready):
        yield services


@contextlib.contextmanager
def go_bff(binaries: GoBinaries, services: MockServices) -> Iterator[str]:
    base_url = f"http://{HOST}:{free_port()}"
    command = [
        str(binaries.bff),
        f"-addr={base_url.removeprefix('http://')}",
        f"-product-url={services.product_url}",
        f"-reviews-url={services.reviews_url}",
        f"-inventory-url={services.inventory_url}",
    ]
    with running(command, [f"{base_url}/"]):
        yield base_url


@contextlib.contextmanager
def uvicorn_app(
    app: str, sys_path: Sequence[Path], services: MockServices, extra_env: Mapping[str, str] | None = None
) -> Iterator[str]:
    """Serve the ASGI app `module:attribute` with one uvicorn worker."""
    port = free_port()
    base_url = f"http://{HOST}:{port}"
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        f"--host={HOST}",
        f"--port={port}",
        "--workers=1",
        "--log-level=warning",
        "--no-access-log",
    ]
    with running(command, [f"{base_url}/"], env=python_env(sys_path, {**services.as_env(), **(extra_env or {})})):
        yield base_url
