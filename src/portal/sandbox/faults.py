"""Injected faults (latency, throttling, errors, dropped connections) and the request counters.

Both live outside the HTTP plumbing so that tests and the benchmark can change faults and read counts while the
server runs; every mutable piece is guarded by a lock because the server answers on many threads.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

from portal.sandbox.workspace_state import workspace_hostname


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
class ApiCounts:
    """The requests one listener (one Databricks workspace) answered or failed, by method and by endpoint.

    `by_endpoint` keys are "METHOD /path", e.g. "POST /api/2.0/workspace/import"; `faults_injected` includes the
    `rate_limited` answers (429 from the workspace's request limits)."""

    reads: int = 0
    writes: int = 0
    by_method: dict[str, int] = field(default_factory=dict)
    by_endpoint: dict[str, int] = field(default_factory=dict)
    faults_injected: int = 0
    rate_limited: int = 0

    @property
    def total(self) -> int:
        return self.reads + self.writes

    def calls(self, method: str, path: str) -> int:
        """How many requests went to one endpoint, e.g. calls("GET", "/.well-known/databricks-config")."""
        return self.by_endpoint.get(f"{method.upper()} {path}", 0)


@dataclass
class SandboxStats:
    """Thread-safe counts of the requests the server answered or failed (injected faults included).

    The top-level counts cover every listener (the Data Factory API and each Databricks workspace); `workspaces`
    holds each workspace's own counts by host name, and `workspace(host)` a copy of one of them."""

    reads: int = 0
    writes: int = 0
    by_method: dict[str, int] = field(default_factory=dict)
    faults_injected: int = 0
    rate_limited: int = 0  # 429s of a workspace's request limits (also counted in faults_injected)
    workspaces: dict[str, ApiCounts] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def total(self) -> int:
        return self.reads + self.writes

    def count_request(self, method: str, is_write: bool, workspace: str | None = None, path: str | None = None) -> None:
        with self._lock:
            if is_write:
                self.writes += 1
            else:
                self.reads += 1
            self.by_method[method] = self.by_method.get(method, 0) + 1
            if workspace is not None:
                counts = self.workspaces.setdefault(workspace, ApiCounts())
                if is_write:
                    counts.writes += 1
                else:
                    counts.reads += 1
                counts.by_method[method] = counts.by_method.get(method, 0) + 1
                endpoint = f"{method} {path}"
                counts.by_endpoint[endpoint] = counts.by_endpoint.get(endpoint, 0) + 1

    def count_fault(self, workspace: str | None = None, rate_limited: bool = False) -> None:
        with self._lock:
            self.faults_injected += 1
            if rate_limited:
                self.rate_limited += 1
            if workspace is not None:
                counts = self.workspaces.setdefault(workspace, ApiCounts())
                counts.faults_injected += 1
                if rate_limited:
                    counts.rate_limited += 1

    def workspace(self, host: str) -> ApiCounts:
        """A copy of one workspace's counts (zeros when it had no request); `host` as configured or its name."""
        with self._lock:
            counts = self.workspaces.get(workspace_hostname(host), ApiCounts())
            return ApiCounts(
                counts.reads,
                counts.writes,
                dict(counts.by_method),
                dict(counts.by_endpoint),
                counts.faults_injected,
                counts.rate_limited,
            )

    def reset(self) -> None:
        with self._lock:
            self.reads = self.writes = self.faults_injected = self.rate_limited = 0
            self.by_method = {}
            self.workspaces = {}
