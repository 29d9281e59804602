"""One source of truth for names: a small registry class, one instance per kind of thing.

``scratchnet.zoo.MODELS``, ``scratchnet.optim.OPTIMIZERS``, ``scratchnet.schedules.SCHEDULES`` and
``scratchnet.data.DATASETS`` are the only lists of models, optimizers, schedules and datasets. The
CLI takes its ``choices`` from them, the trainer looks names up in them, and
``docs/names.md`` is generated from them (:func:`scratchnet.names.names_markdown`; a test keeps it
current). This module defines the class only: the modules that fill a registry import it, never
the other way round.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Named entries with a one-line description each, in registration order."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, tuple[T, str]] = {}

    def add(self, name: str, entry: T, description: str) -> T:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = (entry, description)
        return entry

    def register(self, name: str, description: str) -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""
        return lambda entry: self.add(name, entry, description)

    def get(self, name: str) -> T:
        """The entry called ``name``; a ``ValueError`` listing the choices if there is none."""
        try:
            return self._entries[name][0]
        except KeyError:
            raise ValueError(f"unknown {self.kind} {name!r}; choose from {', '.join(self._entries)}") from None

    def description(self, name: str) -> str:
        return self._entries[name][1]

    def names(self) -> list[str]:
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
