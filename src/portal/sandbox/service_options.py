"""Settings of the emulated service that tests change while the server runs: the ARM write-rate limit and how
pipeline runs end.

Both are off or benign by default. They live on `SandboxState.options` (so `server.state.options` reaches them
while a `SandboxServer` runs) unless a `DataFactoryApi` is given its own `ServiceOptions`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from portal.adf.limits import WRITES_PER_HOUR


@dataclass
class WriteRateLimit:
    """ARM's write throttling: at most `writes` PUT/PATCH/POST requests per subscription within any
    `window_seconds`; beyond that 429 with Retry-After (request-limits-and-throttling.md: DELETE is counted apart
    and so is not limited here)."""

    writes: int = WRITES_PER_HOUR  # per subscription and principal, ARM's default
    window_seconds: float = 3600.0


@dataclass
class RunRule:
    """How the runs of matching pipelines go (the first matching rule wins; none: they succeed).

    A run is read Queued `queued_reads` times, then InProgress `in_progress_reads` times, then ends with
    `status` ("Succeeded", "Failed" or "Cancelled") and `message`. A large `in_progress_reads` makes a slow run.
    `times` is how many new runs the rule shapes before it is spent (-1: always)."""

    pipeline: str | None = None  # compared without regard to case; None: every pipeline
    status: str = "Failed"
    message: str = "Operation on target Activity failed: injected by the sandbox."
    queued_reads: int = 1
    in_progress_reads: int = 1
    times: int = -1

    def matches(self, pipeline: str) -> bool:
        if self.times == 0:
            return False
        return self.pipeline is None or self.pipeline.lower() == pipeline.lower()


@dataclass
class ServiceOptions:
    write_limit: WriteRateLimit | None = None  # None: no ARM write throttling (the default)
    runs: list[RunRule] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def run_rule(self, pipeline: str) -> RunRule | None:
        """The rule for a new run of `pipeline` (spending one of its `times`), or None."""
        with self._lock:
            for rule in self.runs:
                if rule.matches(pipeline):
                    if rule.times > 0:
                        rule.times -= 1
                    return rule
            return None
