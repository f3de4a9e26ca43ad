"""What a matched path offers: a name and an answer for each method it allows."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from mockkit.payloads import Document, Reply
from mockkit.request import MockRequest


@dataclass(frozen=True, slots=True)
class Answer:
    """One call's answer, computed lazily so that a fault can replace it before it runs.

    `normal` is the real answer (a 4xx included) and performs the call's effects, such as a cart write;
    `shape` is a healthy document of the right type, for the faults that break a 200 body without the effects.
    """

    normal: Callable[[], Reply]
    shape: Callable[[], Document]
    batch_size: int | None = None


type Handler = Callable[[MockRequest], Answer]


@dataclass(frozen=True, slots=True)
class Route:
    """A path template such as `/products/{id}`, and the handler for each method it allows."""

    template: str
    handlers: Mapping[str, Handler]

    @property
    def allow(self) -> str:
        return ", ".join(self.handlers)


class Router(Protocol):
    def match(self, segments: tuple[str, ...]) -> Route | None: ...


class Spec(Protocol):
    """What makes one mock service different from another; `router()` gives each app its own state."""

    @property
    def name(self) -> str: ...

    @property
    def default_latency_ms(self) -> int: ...

    def router(self) -> Router: ...
