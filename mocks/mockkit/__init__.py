"""Toolkit for tiny mock downstream services: a plain ASGI app per service, with injectable faults."""

from mockkit.cart import CartSpec
from mockkit.config import MockConfig
from mockkit.faults import MockConfigError
from mockkit.payloads import Document
from mockkit.service import MockService, create_app
from mockkit.spec import ServiceSpec

__all__ = ["CartSpec", "Document", "MockConfig", "MockConfigError", "MockService", "ServiceSpec", "create_app"]
