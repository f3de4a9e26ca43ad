"""What a page is made of: sections, each from one service, critical or optional, with its own patience."""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass
from typing import Any

from pydantic import TypeAdapter


@dataclass(frozen=True, slots=True)
class Section:
    name: str
    service: str
    path_template: str
    timeout_ms: int
    shape: TypeAdapter[Any]
    _: KW_ONLY
    critical: bool

    def path_for(self, encoded_id: str) -> str:
        return self.path_template.format(id=encoded_id)


@dataclass(frozen=True, slots=True)
class Page:
    sections: tuple[Section, ...]

    def critical_sections(self) -> tuple[Section, ...]:
        return tuple(section for section in self.sections if section.critical)
