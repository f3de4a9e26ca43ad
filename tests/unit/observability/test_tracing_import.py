"""OpenTelemetry stays off the cold-start path unless tracing is on (checked in fresh interpreters)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
# The whole handler, as Lambda imports it: whatever it pulls in, tracing off must not reach the SDK, the exporter
# (and its `requests`, protobuf) or the propagators. (The OpenTelemetry API itself is FastAPI's own dependency.)
TRACING_ONLY = (
    "opentelemetry.sdk",
    "opentelemetry.exporter",
    "opentelemetry.propagators.aws",
    "requests",
    "google.protobuf",
    "aws_xray_sdk",
)
PROBE = (
    "import sys, bff.handler as h; "
    f"loaded = sorted(m for m in sys.modules if m.startswith({TRACING_ONLY!r})); "
    "print(type(h.composition.tracing).__name__, ','.join(loaded) or '-')"
)
ENDPOINT = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}
SERVICES = {
    "PRODUCT_SERVICE_URL": "http://127.0.0.1:8081",
    "REVIEWS_SERVICE_URL": "http://127.0.0.1:8082",
    "INVENTORY_SERVICE_URL": "http://127.0.0.1:8083",
    "CART_SERVICE_URL": "http://127.0.0.1:8084",
}


def probe(**environ: str) -> tuple[str, str]:
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("POWERTOOLS_", "AWS_", "LAMBDA_", "_X_AMZN", "OTEL_"))
    }
    completed = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={**inherited, **SERVICES, **environ, "PYTHONPATH": str(REPO / "functions" / "bff")},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    kind, modules = completed.stdout.strip().splitlines()[-1].split(" ")
    return kind, modules


@pytest.mark.parametrize(
    "environ",
    [{}, {**ENDPOINT, "OTEL_SDK_DISABLED": "true"}, {"OTEL_SERVICE_NAME": "bff", "OTEL_TRACES_SAMPLER": "always_on"}],
    ids=["no-endpoint", "sdk-disabled", "other-variables-only"],
)
def test_tracing_off_imports_no_opentelemetry_sdk_exporter_or_propagator(environ: dict[str, str]) -> None:
    assert probe(**environ) == ("NoTracing", "-")


def test_tracing_on_imports_the_sdk_and_the_otlp_exporter() -> None:
    kind, modules = probe(**ENDPOINT)
    assert kind == "OtelTracing"
    loaded = modules.split(",")
    assert {"opentelemetry.sdk.trace", "opentelemetry.exporter.otlp.proto.http.trace_exporter"} <= set(loaded)
    assert not any(module.startswith("aws_xray_sdk") for module in loaded)
