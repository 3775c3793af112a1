"""Injected faults (latency, throttling, errors, dropped connections) and the request counters.

Both live outside the HTTP plumbing so that tests and the benchmark can change faults and read counts while the
server runs; every mutable piece is guarded by a lock because the server answers on many threads.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field


@dataclass
class FaultRule:
    """An injected fault for matching requests.

    `status` 429 answers with `Retry-After` (whole seconds, at least 1) and with `retry-after-ms` /
    `x-ms-retry-after-ms` set to `retry_after_ms`. With `delay_ms` > 0 the answer is slow: after the delay a
    rule with `status` 0 lets the request through to the service, any other status still fails it.
    """

    method: str | None = None  # "PUT", "GET", "POST", "DELETE" or None for any
    path_contains: str | None = None  # compared case-insensitively with the URL path
    status: int = 500
    times: int = 1  # matching requests that fail before the rule is spent; -1 = always
    drop_connection: bool = False  # close the socket without any response
    delay_ms: int = 0
    retry_after_ms: int = 50

    def matches(self, method: str, path: str) -> bool:
        if self.times == 0:
            return False
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path_contains is None or self.path_contains.lower() in path.lower()


@dataclass
class Faults:
    latency_ms: int = 0  # added to every request
    throttle_every: int = 0  # every Nth request answers 429 with Retry-After (0 = never)
    error_every: int = 0  # every Nth write (PUT/POST/DELETE) answers 503 (0 = never)
    rules: list[FaultRule] = field(default_factory=list)


@dataclass(frozen=True)
class InjectedFault:
    """What the server does instead of (or before) answering normally."""

    status: int = 0  # 0 = no answer of its own: the request goes on to the service
    drop_connection: bool = False
    delay_ms: int = 0
    retry_after_ms: int | None = None  # set for 429 answers

    def retry_headers(self) -> dict[str, str]:
        if self.retry_after_ms is None:
            return {}
        # azure-core reads `Retry-After` before the millisecond headers, and the header holds whole seconds.
        seconds = max(1, math.ceil(self.retry_after_ms / 1000))
        ms = str(self.retry_after_ms)
        return {"Retry-After": str(seconds), "retry-after-ms": ms, "x-ms-retry-after-ms": ms}


_DEFAULT_RETRY_AFTER_MS = 50


class FaultInjector:
    """Decides, request by request, which fault of the current `Faults` applies."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: Faults | None = None
        self._requests = 0
        self._writes = 0

    def decide(self, faults: Faults, method: str, path: str, is_write: bool) -> InjectedFault | None:
        with self._lock:
            if faults is not self._faults:
                # A new Faults object starts its own "every Nth" counts, so switching faults on is predictable.
                self._faults, self._requests, self._writes = faults, 0, 0
            self._requests += 1
            if is_write:
                self._writes += 1
            if faults.throttle_every > 0 and self._requests % faults.throttle_every == 0:
                return InjectedFault(status=429, retry_after_ms=_DEFAULT_RETRY_AFTER_MS)
            if is_write and faults.error_every > 0 and self._writes % faults.error_every == 0:
                return InjectedFault(status=503)
            for rule in faults.rules:
                if rule.matches(method, path):
                    if rule.times > 0:
                        rule.times -= 1
                    return InjectedFault(
                        status=rule.status,
                        drop_connection=rule.drop_connection,
                        delay_ms=max(0, rule.delay_ms),
                        retry_after_ms=rule.retry_after_ms if rule.status == 429 else None,
                    )
            return None


@dataclass
class SandboxStats:
    """Thread-safe counts of the requests the server answered or failed (injected faults included)."""

    reads: int = 0
    writes: int = 0
    by_method: dict[str, int] = field(default_factory=dict)
    faults_injected: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def total(self) -> int:
        return self.reads + self.writes

    def count_request(self, method: str, is_write: bool) -> None:
        with self._lock:
            if is_write:
                self.writes += 1
            else:
                self.reads += 1
            self.by_method[method] = self.by_method.get(method, 0) + 1

    def count_fault(self) -> None:
        with self._lock:
            self.faults_injected += 1

    def reset(self) -> None:
        with self._lock:
            self.reads = self.writes = self.faults_injected = 0
            self.by_method = {}
