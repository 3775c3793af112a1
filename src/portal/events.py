"""One event type for everything a deployment does, and the sinks that print, show or record it.

Apply reports through a sink; the CLI prints, the portal shows live, the audit trail records — the same events.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

# Event kinds, in the order a run produces them.
STEP_STARTED = "step-started"
OBJECT_DONE = "object-done"
RETRY = "retry"
FAILED = "failed"
STEP_FINISHED = "step-finished"
FINISHED = "finished"


@dataclass(frozen=True)
class Event:
    kind: str
    step: str = ""  # "stop triggers", "deploy", "delete", "start triggers", "check live state"
    object: str = ""  # "pipeline PL_Load"
    message: str = ""
    done: int = 0
    total: int = 0
    time: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="milliseconds"))

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        if self.kind == STEP_STARTED:
            return f"{self.step}: {self.total} to do" if self.total else f"{self.step}: {self.object}".rstrip(": ")
        counter = f"[{self.done}/{self.total}] " if self.total else ""
        subject = f"{self.object}: " if self.object else ""
        return f"{counter}{self.step}: {subject}{self.message}".rstrip(": ")


EventSink = Callable[[Event], None]


def no_events(event: Event) -> None:
    """A sink that drops everything."""


class EventLog:
    """Collects events (thread-safe), for tests and for the audit trail."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        with self._lock:
            self.events.append(event)

    def of_kind(self, kind: str) -> list[Event]:
        with self._lock:
            return [e for e in self.events if e.kind == kind]


class PrintSink:
    """Progress lines for a terminal."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stdout
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        if event.kind == STEP_FINISHED:
            return
        with self._lock:
            print(str(event), file=self.stream, flush=True)
