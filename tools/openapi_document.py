"""Write the BFF's OpenAPI document, as GET /openapi.json serves it, without starting anything.

The app is built (not run) with placeholder service URLs: no route is called, and nothing in the document depends
on where the services are. JWT_ISSUER, as deployed, names the issuer in the security scheme (default: the local one).

    .venv/bin/python -m tools.openapi_document demo/build/openapi.json
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bff.api.openapi import document_bytes
from bff.composition import build_app
from bff.config.services import SERVICES, variable
from bff.config.settings import Settings
from bff.downstream.http import create_http_client

PLACEHOLDER_URL = "https://{service}.invalid"


def document() -> bytes:
    environment = {variable(service, "base_url"): PLACEHOLDER_URL.format(service=service) for service in SERVICES}
    if issuer := os.environ.get("JWT_ISSUER"):
        environment["JWT_ISSUER"] = issuer
    settings = Settings.from_env(environment)
    return document_bytes(build_app(settings, create_http_client(settings)).openapi())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.openapi_document", description=__doc__)
    parser.add_argument("output", type=Path, help="where to write the document (its directory is created)")
    arguments = parser.parse_args(argv)
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_bytes(document())
    sys.stdout.write(f"{arguments.output}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
