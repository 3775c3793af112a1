"""The sandbox's servers: Starlette + uvicorn on one background event loop, faults (and request limits) before the API.

The Data Factory API listens over HTTPS (TLS 1.2 or later) with a certificate from the sandbox CA; each Databricks
workspace asked for with `SandboxServer.workspace(host)` gets its own plain-HTTP listener, sharing the faults and
the counters. Every listener is an `asgi.ApiApp` (a small ASGI app over the API's synchronous `handle`) served by
uvicorn's h11 protocol on one asyncio loop running in a daemon thread; the API calls run in anyio's worker threads,
latency and fault delays are awaited on the loop, so a slow request never holds a thread. Connections are kept
alive (HTTP/1.1) as the SDKs' connection pools expect, TLS handshakes run on the loop (a slow or refusing client
blocks nobody), and `stop()` closes the sockets, aborts the connections still open and joins the thread.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import threading
import time
from collections.abc import Generator, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from portal.sandbox.api import DataFactoryApi
from portal.sandbox.asgi import (
    DROP_CONNECTION,
    ApiApp,
    Drop,
    Listener,
    LoopThread,
    bind,
)
from portal.sandbox.certs import ensure_certificates
from portal.sandbox.credential import SANDBOX_TOKEN, SandboxCredential
from portal.sandbox.errors import ApiError, ApiResponse
from portal.sandbox.faults import FaultInjector, Faults, InjectedFault, SandboxStats
from portal.sandbox.state import SandboxState
from portal.sandbox.workspace_api import (
    WorkspaceApi,
    WorkspaceLimits,
    WorkspaceRateLimiter,
    injected_error,
    internal_error,
    rate_limited,
    unreadable_body,
)
from portal.sandbox.workspace_state import WorkspaceState, workspace_hostname

if TYPE_CHECKING:
    from azure.mgmt.datafactory import DataFactoryManagementClient
    from databricks.sdk import WorkspaceClient

_FAULT_CODES = {
    429: "TooManyRequests",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
    408: "RequestTimeout",
}
# Retry settings that keep tests fast: the first retry is immediate in azure-core, the next ones short.
_TEST_CLIENT_SETTINGS: dict[str, Any] = {
    "retry_total": 5,
    "retry_backoff_factor": 0.05,
    "retry_backoff_max": 1,
    "polling_interval": 0.05,
}
# The Databricks SDK retries 429/503 after Retry-After (at least 1 s) plus up to 1 s of jitter, until this budget
# (300 s by default) is spent; tests want a failure sooner.
_TEST_WORKSPACE_SETTINGS: dict[str, Any] = {"retry_timeout_seconds": 30, "http_timeout_seconds": 30}


class SandboxServer:
    """A local Data Factory management API (2018-06-01) over HTTPS, with its state in `state_dir`.

    `workspace(host)` adds a local Databricks Workspace API for a workspace host (plain HTTP, its own port), with
    its state in `state_dir/databricks/<host name>/`. `faults` and `stats` cover every listener;
    `workspace_limits` (None: off) applies the service's per-workspace request limits and may change at any time.
    """

    def __init__(
        self,
        state_dir: str | os.PathLike[str],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: Faults | None = None,
        page_size: int = 50,
        workspace_limits: WorkspaceLimits | None = None,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.host = host
        self.port = port
        self.page_size = page_size
        self.faults: Faults = faults or Faults()
        self.workspace_limits: WorkspaceLimits | None = workspace_limits
        self.stats = SandboxStats()
        self.state: SandboxState | None = None
        self._injector = FaultInjector()
        self._loop: LoopThread | None = None  # the event loop every listener of this sandbox runs on
        self._listener: Listener | None = None  # the Data Factory API's
        self._ca_path: Path | None = None
        self._workspaces: dict[str, _WorkspaceListener] = {}
        self._workspaces_lock = threading.Lock()

    # -- life cycle ------------------------------------------------------------------------------------------

    def start(self) -> SandboxServer:
        """Listen (port 0: a free port, in `port` once this returns) and accept before returning."""
        if self._listener is not None:
            raise RuntimeError("the sandbox server is already running")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.state = SandboxState(self.state_dir)
        extra = () if self.host in ("", "0.0.0.0", "::") else (self.host,)
        certs = ensure_certificates(self.state_dir / "tls", extra)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(certs.server_cert, certs.server_key)
        self._ca_path = certs.ca_cert
        api = DataFactoryApi(self.state, lambda: self.base_url, self.page_size)
        sock = bind(self.host, self.port)
        self.port = sock.getsockname()[1]
        loop = LoopThread(f"portal-sandbox:{self.port}").start()
        try:
            listener = Listener(ApiApp(api, _DataFactoryGate(self)), sock, context)
            loop.call(listener.start())
        except BaseException:
            sock.close()
            loop.stop()
            raise
        with self._workspaces_lock:
            self._loop, self._listener = loop, listener
        return self

    def stop(self) -> None:
        """Close every listener and connection (no handler answers afterwards) and join the loop's thread."""
        with self._workspaces_lock:
            workspaces, self._workspaces = list(self._workspaces.values()), {}
            listener, self._listener = self._listener, None
            loop, self._loop = self._loop, None
        if loop is None:
            return
        listeners = [w.listener for w in workspaces] + ([listener] if listener is not None else [])
        try:
            loop.call(_stop_all(listeners))
        finally:
            loop.stop()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what clients need -----------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._listener is None:
            raise RuntimeError("the sandbox server is not running; call start() first")
        return _url("https", self.host, self.port)

    @property
    def ca_path(self) -> str:
        if self._ca_path is None:
            raise RuntimeError("the sandbox server has not been started, so it has no certificate yet")
        return str(self._ca_path)

    def client(self, subscription_id: str, **kwargs: Any) -> DataFactoryManagementClient:
        """The real SDK client, pointed at this server and trusting its CA only."""
        from azure.mgmt.datafactory import DataFactoryManagementClient

        settings = {**_TEST_CLIENT_SETTINGS, "connection_verify": self.ca_path, **kwargs}
        credential = settings.pop("credential", None) or SandboxCredential()
        return DataFactoryManagementClient(credential, subscription_id, base_url=self.base_url, **settings)

    # -- Databricks workspaces -------------------------------------------------------------------------------

    def workspace(self, host: str) -> str:
        """The base URL (`http://127.0.0.1:PORT`) of the local Workspace API standing in for `host`, e.g.
        `https://adb-1111111111111111.1.azuredatabricks.net`; its listener starts on the first call."""
        name = workspace_hostname(host)
        with self._workspaces_lock:
            if self._loop is None:  # checked under the lock: stop() cannot miss a listener started meanwhile
                raise RuntimeError("the sandbox server is not running; call start() first")
            listener = self._workspaces.get(name)
            if listener is None:
                listener = _WorkspaceListener.start(self, name, self._loop)
                self._workspaces[name] = listener
            return listener.base_url

    def workspace_client(self, host: str, **config_kwargs: Any) -> WorkspaceClient:
        """The real `databricks.sdk.WorkspaceClient` for `host`, pointed at its local listener with the sandbox's
        personal access token; `config_kwargs` go to the SDK's Config (and override the short test timeouts)."""
        from databricks.sdk import WorkspaceClient
        from databricks.sdk.config import Config

        # auth_type "pat": DATABRICKS_* variables or a ~/.databrickscfg on the machine cannot add a second method.
        settings = {"token": SANDBOX_TOKEN, "auth_type": "pat", **_TEST_WORKSPACE_SETTINGS, **config_kwargs}
        return WorkspaceClient(config=Config(host=self.workspace(host), **settings))

    # -- one request -------------------------------------------------------------------------------------------

    def injected_fault(
        self, method: str, path: str, is_write: bool, workspace: str | None = None
    ) -> InjectedFault | None:
        """Counts the request, waits out any latency, and tells the caller which fault (if any) to play.

        `workspace` is the host name of the workspace listener that received the request (None: Data Factory).
        The listeners use `injected_fault_async`, the same steps with the waits awaited on the event loop."""
        steps = self._fault_steps(method, path, is_write, workspace)
        try:
            while True:
                time.sleep(next(steps))
        except StopIteration as done:
            return done.value

    async def injected_fault_async(
        self, method: str, path: str, is_write: bool, workspace: str | None = None
    ) -> InjectedFault | None:
        steps = self._fault_steps(method, path, is_write, workspace)
        try:
            while True:
                await asyncio.sleep(next(steps))
        except StopIteration as done:
            return done.value

    def _fault_steps(
        self, method: str, path: str, is_write: bool, workspace: str | None
    ) -> Generator[float, None, InjectedFault | None]:
        """Yields the seconds to wait, returns the fault: one definition for the thread and the loop."""
        self.stats.count_request(method, is_write, workspace, path if workspace is not None else None)
        faults = self.faults
        if faults.latency_ms > 0:
            yield faults.latency_ms / 1000
        fault = self._injector.decide(faults, method, path, is_write)
        if fault is None:
            return None
        self.stats.count_fault(workspace)
        if fault.delay_ms > 0:
            yield fault.delay_ms / 1000
        return fault


def serve(
    state_dir: str | os.PathLike[str],
    *,
    host: str = "127.0.0.1",
    port: int = 8443,
    faults: Faults | None = None,
    workspaces: Iterable[str] = (),
) -> None:
    """Run a sandbox in the foreground (for `portal sandbox serve`) until Ctrl-C; `workspaces` are Databricks
    workspace hosts to serve as well (each on its own port, printed)."""
    server = SandboxServer(state_dir, host=host, port=port, faults=faults).start()
    print(f"Sandbox Data Factory API at {server.base_url}")
    print(f"  CA certificate: {server.ca_path}  (connection_verify=..., or REQUESTS_CA_BUNDLE)")
    print(f"  Bearer token:   {SANDBOX_TOKEN}")
    print(f"  State folder:   {Path(state_dir).resolve()}")
    hosts = list(workspaces)
    for workspace in hosts:
        print(f"Sandbox Databricks workspace {workspace} at {server.workspace(workspace)}")
    if hosts:
        print(f"  Personal access token: {SANDBOX_TOKEN}")
    print("Press Ctrl-C to stop.", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


# -- what stands before the APIs -----------------------------------------------------------------------------


def _is_read(method: str, path: str) -> bool:
    # The status of an event subscription is asked with POST but reads; everything else that is not GET writes.
    return method in ("GET", "HEAD") or (
        method == "POST" and path.rstrip("/").lower().endswith("/geteventsubscriptionstatus")
    )


def _url(scheme: str, host: str, port: int) -> str:
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


async def _stop_all(listeners: list[Listener]) -> None:
    await asyncio.gather(*(listener.stop() for listener in listeners))


class _DataFactoryGate:
    """The sandbox's faults before the Data Factory API (an `asgi.Gate`), and the answers of the listener's own in
    the Data Factory API's shape; a subclass changes them for another API."""

    workspace: str | None = None  # the workspace host name, for the counters (None: the Data Factory API)

    def __init__(self, sandbox: SandboxServer) -> None:
        self.sandbox = sandbox

    async def admit(self, method: str, path: str) -> ApiResponse | Drop | None:
        fault = await self.sandbox.injected_fault_async(method, path, not _is_read(method, path), self.workspace)
        if fault is not None and fault.drop_connection:
            return DROP_CONNECTION
        if fault is not None and fault.status:
            return self.fault_response(fault)
        return self.limited_response(method, path)

    def fault_response(self, fault: InjectedFault) -> ApiResponse:
        code = _FAULT_CODES.get(fault.status, "InjectedFault")
        return ApiError(
            fault.status, code, f"Injected by the sandbox: HTTP {fault.status}.", headers=fault.retry_headers()
        ).response()

    def unreadable_body_response(self) -> ApiResponse:
        return ApiError(400, "InvalidRequestContent", "The request body could not be read.").response()

    def internal_error_response(self, err: Exception) -> ApiResponse:
        """The answer when the API itself fails (a sandbox bug), worded as the service would."""
        return ApiError(500, "InternalServerError", f"The sandbox failed: {err!r}").response()

    def limited_response(self, method: str, path: str) -> ApiResponse | None:
        """A refusal by the service's request limits, or None (the Data Factory API emulates none)."""
        return None


class _WorkspaceGate(_DataFactoryGate):
    """Before one Databricks workspace: Databricks-shaped errors and the workspace's request limits."""

    def __init__(self, sandbox: SandboxServer, hostname: str) -> None:
        super().__init__(sandbox)
        self.workspace = hostname
        self.limiter = WorkspaceRateLimiter()

    def fault_response(self, fault: InjectedFault) -> ApiResponse:
        return injected_error(fault.status, fault.retry_headers())

    def unreadable_body_response(self) -> ApiResponse:
        return unreadable_body()

    def internal_error_response(self, err: Exception) -> ApiResponse:
        return internal_error(err)

    def limited_response(self, method: str, path: str) -> ApiResponse | None:
        limits = self.sandbox.workspace_limits
        if limits is None:
            return None
        retry_after = self.limiter.check(limits, method, path)
        if retry_after is None:
            return None
        self.sandbox.stats.count_fault(self.workspace, rate_limited=True)
        return rate_limited(retry_after)


class _WorkspaceListener:
    """The plain-HTTP listener of one Databricks workspace, on the sandbox's event loop."""

    def __init__(self, listener: Listener, host: str) -> None:
        self.listener = listener
        self.base_url = _url("http", host, listener.port)

    @classmethod
    def start(cls, sandbox: SandboxServer, hostname: str, loop: LoopThread) -> _WorkspaceListener:
        state = WorkspaceState(sandbox.state_dir / "databricks" / hostname, hostname)
        sock = bind(sandbox.host, 0)
        base_url = _url("http", sandbox.host, sock.getsockname()[1])
        api = WorkspaceApi(state, lambda: base_url)
        listener = Listener(ApiApp(api, _WorkspaceGate(sandbox, hostname)), sock)
        try:
            loop.call(listener.start())
        except BaseException:
            sock.close()
            raise
        return cls(listener, sandbox.host)


_SHARED: dict[str, SandboxServer] = {}
_SHARED_LOCK = threading.Lock()


def sandbox_for(state_dir: str | os.PathLike[str]) -> SandboxServer:
    """The in-process sandbox serving `state_dir`, started on first use and shared by every caller in the process
    (the Data Factory and Databricks targets of one environment, the demo, the tests)."""
    key = str(Path(state_dir).resolve())
    with _SHARED_LOCK:
        server = _SHARED.get(key)
        if server is None:
            server = _SHARED[key] = SandboxServer(key).start()
        return server
