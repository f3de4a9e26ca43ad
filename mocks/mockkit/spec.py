"""A catalogue service: `GET /{collection}/{id}` for one id, `GET /{collection}?ids=a,b` for several."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mockkit.catalogue import FIXTURE_IDS
from mockkit.ids import InvalidRequestError, batch_ids
from mockkit.payloads import Document, JsonValue, Reply, json_reply, problem_reply
from mockkit.request import MockRequest
from mockkit.routes import Answer, Route


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """A service answering `render(id)` for the ids in `known_ids`, one at a time or in a batch.

    A batch answers `{id: render(id)}` for the known ids among those asked for, and leaves the others out.
    """

    name: str
    collection: str
    default_latency_ms: int
    render: Callable[[str], Document]
    known_ids: frozenset[str] = FIXTURE_IDS

    def router(self) -> ServiceSpec:
        return self  # stateless

    def match(self, segments: tuple[str, ...]) -> Route | None:
        match segments:
            case (collection, resource_id) if collection == self.collection and resource_id:
                return Route(f"/{self.collection}/{{id}}", {"GET": lambda _: self._single(resource_id)})
            case (collection,) if collection == self.collection:
                return Route(f"/{self.collection}", {"GET": self._batch})
            case _:
                return None

    def _single(self, resource_id: str) -> Answer:
        return Answer(normal=lambda: self._one(resource_id), shape=lambda: self.render(resource_id))

    def _one(self, resource_id: str) -> Reply:
        if resource_id not in self.known_ids:
            return problem_reply(404, f"No {self.name} for id {resource_id!r}")
        return json_reply(200, self.render(resource_id))

    def _batch(self, request: MockRequest) -> Answer:
        try:
            ids = batch_ids(request.query)
        except InvalidRequestError as error:
            detail = str(error)
            return Answer(normal=lambda: problem_reply(400, detail), shape=dict)
        return Answer(
            normal=lambda: json_reply(200, self._many(ids)),
            shape=lambda: self._many(ids),
            batch_size=len(ids),
        )

    def _many(self, ids: list[str]) -> dict[str, JsonValue]:
        return {resource_id: self.render(resource_id) for resource_id in ids if resource_id in self.known_ids}
