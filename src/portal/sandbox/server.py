"""The sandbox's servers: standard-library HTTP, faults (and request limits) before the API.

The Data Factory API listens over HTTPS with a certificate from the sandbox CA; each Databricks workspace asked
for with `SandboxServer.workspace(host)` gets its own plain-HTTP listener, sharing the faults and the counters.
Connections are kept alive (HTTP/1.1) as the SDKs' connection pools expect; the TLS handshake runs on the
connection's own thread, so a slow or refusing client never blocks the accept loop.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Protocol
from urllib.parse import parse_qsl, urlsplit

from portal.sandbox.api import ApiRequest, DataFactoryApi
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

log = logging.getLogger(__name__)

_FAULT_CODES = {429: "TooManyRequests", 500: "InternalServerError", 502: "BadGateway", 503: "ServiceUnavailable",
                504: "GatewayTimeout", 408: "RequestTimeout"}
# Retry settings that keep tests fast: the first retry is immediate in azure-core, the next ones short.
_TEST_CLIENT_SETTINGS: dict[str, Any] = {
    "retry_total": 5, "retry_backoff_factor": 0.05, "retry_backoff_max": 1, "polling_interval": 0.05,
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
        self._httpd: _ApiServer | None = None
        self._thread: threading.Thread | None = None
        self._ca_path: Path | None = None
        self._workspaces: dict[str, _WorkspaceServer] = {}
        self._workspaces_lock = threading.Lock()

    # -- life cycle ------------------------------------------------------------------------------------------

    def start(self) -> SandboxServer:
        if self._httpd is not None:
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
        self._httpd = _ApiServer((self.host, self.port), self, api, context)
        self.port = self._httpd.server_address[1]
        self._thread = self._httpd.serve_in_thread(f"portal-sandbox:{self.port}")
        return self

    def stop(self) -> None:
        with self._workspaces_lock:
            workspaces, self._workspaces = list(self._workspaces.values()), {}
            httpd, self._httpd = self._httpd, None
        for workspace in workspaces:
            workspace.stop()
        if httpd is None:
            return
        httpd.stop()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what clients need -----------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the sandbox server is not running; call start() first")
        host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        return f"https://[{host}]:{self.port}" if ":" in host else f"https://{host}:{self.port}"

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
            if self._httpd is None:  # checked under the lock: stop() cannot miss a listener started meanwhile
                raise RuntimeError("the sandbox server is not running; call start() first")
            listener = self._workspaces.get(name)
            if listener is None:
                listener = _WorkspaceServer.start(self, name)
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

    # -- one request (called by the handler threads) ---------------------------------------------------------

    def injected_fault(self, method: str, path: str, is_write: bool,
                       workspace: str | None = None) -> InjectedFault | None:
        """Counts the request, waits out any latency, and tells the handler which fault (if any) to play.

        `workspace` is the host name of the workspace listener that received the request (None: Data Factory)."""
        self.stats.count_request(method, is_write, workspace, path if workspace is not None else None)
        faults = self.faults
        if faults.latency_ms > 0:
            time.sleep(faults.latency_ms / 1000)
        fault = self._injector.decide(faults, method, path, is_write)
        if fault is None:
            return None
        self.stats.count_fault(workspace)
        if fault.delay_ms > 0:
            time.sleep(fault.delay_ms / 1000)
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


# -- HTTP plumbing -------------------------------------------------------------------------------------------


def _is_read(method: str, path: str) -> bool:
    # The status of an event subscription is asked with POST but reads; everything else that is not GET writes.
    return method in ("GET", "HEAD") or (method == "POST" and path.rstrip("/").lower().endswith(
        "/geteventsubscriptionstatus"))


class _Api(Protocol):
    def handle(self, request: ApiRequest) -> ApiResponse: ...


class _ApiServer(ThreadingHTTPServer):
    """One listener: HTTPS when given an SSL context (the Data Factory API), else plain HTTP.

    The answers of its own (injected faults, unreadable bodies) have the Data Factory API's shape; a subclass
    changes them for another API."""

    daemon_threads = True
    workspace: str | None = None  # the workspace host name, for the counters (None: the Data Factory API)

    def __init__(self, address: tuple[str, int], sandbox: SandboxServer, api: _Api,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.ssl_context = ssl_context
        self.sandbox = sandbox
        self.api = api
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def serve_in_thread(self, name: str) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1}, name=name, daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self.shutdown()
        self.close_connections()
        self.server_close()

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(10)  # a client that never finishes its handshake does not hold a thread for ever
        # Small answers at once: without this, Nagle and delayed ACKs add ~40 ms to many requests.
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.ssl_context is None:
            self._track(request, super().finish_request, client_address)  # socketserver closes the socket
            return
        try:
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as err:
            # Typically a client that does not trust the sandbox CA; it sees a certificate error.
            log.debug("TLS handshake with %s failed: %s", client_address, err)
            return
        try:
            self._track(tls, super().finish_request, client_address)
        finally:
            # wrap_socket detached the plain socket, so socketserver's own shutdown cannot close this one.
            _close(tls)

    def _track(self, conn: socket.socket, finish: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(conn)
        try:
            finish(conn, client_address)
        finally:
            with self._connections_lock:
                self._connections.discard(conn)

    def close_connections(self) -> None:
        """End kept-alive connections, so no handler answers after stop() (clients reconnect elsewhere)."""
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # -- answers of the listener's own -----------------------------------------------------------------------

    def fault_response(self, fault: InjectedFault) -> ApiResponse:
        code = _FAULT_CODES.get(fault.status, "InjectedFault")
        return ApiError(fault.status, code, f"Injected by the sandbox: HTTP {fault.status}.",
                        headers=fault.retry_headers()).response()

    def unreadable_body_response(self) -> ApiResponse:
        return ApiError(400, "InvalidRequestContent", "The request body could not be read.").response()

    def internal_error_response(self, err: Exception) -> ApiResponse:
        """The answer when the API itself fails (a sandbox bug), worded as the service would."""
        return ApiError(500, "InternalServerError", f"The sandbox failed: {err!r}").response()

    def limited_response(self, method: str, path: str) -> ApiResponse | None:
        """A refusal by the service's request limits, or None (the Data Factory API emulates none)."""
        return None


class _WorkspaceServer(_ApiServer):
    """The plain-HTTP listener of one Databricks workspace: Databricks-shaped errors and request limits."""

    def __init__(self, address: tuple[str, int], sandbox: SandboxServer, api: _Api, hostname: str) -> None:
        super().__init__(address, sandbox, api)
        self.workspace = hostname
        self.limiter = WorkspaceRateLimiter()
        self._thread: threading.Thread | None = None

    @classmethod
    def start(cls, sandbox: SandboxServer, hostname: str) -> _WorkspaceServer:
        state = WorkspaceState(sandbox.state_dir / "databricks" / hostname, hostname)
        api = WorkspaceApi(state, lambda: listener.base_url)  # asked only once the listener listens
        listener = cls((sandbox.host, 0), sandbox, api, hostname)
        listener._thread = listener.serve_in_thread(f"portal-sandbox-workspace:{listener.server_address[1]}")
        return listener

    @property
    def base_url(self) -> str:
        host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.sandbox.host, self.sandbox.host)
        port = self.server_address[1]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def stop(self) -> None:
        super().stop()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

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


def _close(conn: ssl.SSLSocket) -> None:
    try:
        conn.close()
    except OSError:
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's pooled connections expect
    timeout = 30  # idle kept-alive connections end after this many seconds
    # Buffered: headers and body leave in one write (one TLS record) when the base class flushes after a request.
    wbufsize = -1
    server: _ApiServer
    server_version = "portal-sandbox"

    def do_GET(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        log.debug("%s " + format, self.address_string(), *args)

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            self._send(self.server.unreadable_body_response())
            return
        url = urlsplit(self.path)
        method = self.command.upper()
        fault = self.server.sandbox.injected_fault(method, url.path, not _is_read(method, url.path),
                                                   self.server.workspace)
        if fault is not None and fault.drop_connection:
            self._drop()
            return
        if fault is not None and fault.status:
            self._send(self.server.fault_response(fault))
            return
        limited = self.server.limited_response(method, url.path)
        if limited is not None:
            self._send(limited)
            return
        request = ApiRequest(
            method=method,
            path=url.path,
            query=dict(parse_qsl(url.query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        try:
            response = self.server.api.handle(request)
        except Exception as err:  # a sandbox bug: answer like the service would, and leave a trace
            log.exception("sandbox failed on %s %s", method, self.path)
            response = self.server.internal_error_response(err)
        self._send(response)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline()

    def _send(self, response: ApiResponse) -> None:
        self.send_response(response.status)
        request_id = self.headers.get("x-ms-client-request-id")
        if request_id:
            self.send_header("x-ms-client-request-id", request_id)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if response.status in (204, 304):
            self.end_headers()
            return
        if isinstance(response.body, bytes):  # a download: the API set its Content-Type
            payload = response.body
        else:
            payload = b"" if response.body is None else json.dumps(response.body).encode("utf-8")
            if payload:
                self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _drop(self) -> None:
        """Close the socket without a word: the client sees the connection end mid-request."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
