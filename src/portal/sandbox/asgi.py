"""The sandbox's HTTP plumbing: one small Starlette-based ASGI app per listener, served by uvicorn's h11 protocol.

- `ApiApp` turns an HTTP request into an `ApiRequest`, asks its `Gate` (faults, request limits) whether to let it
  through, calls the synchronous `handle` of its API in a worker thread (Starlette's `run_in_threadpool`: the APIs
  take a lock and touch files, so never on the event loop) and answers the `ApiResponse`. Latency and fault delays
  are awaited with `asyncio.sleep` by the gate, so they never hold a thread.
- `LoopThread` runs one asyncio event loop on a daemon thread; every listener of a sandbox lives on it, and the
  worker threads of anyio's pool (at most 40, anyio's default) answer for all of them.
- `Listener` serves one bound socket (TLS or plain) with uvicorn's h11 protocol. It does not use `uvicorn.Server`:
  that one polls for its exit every 0.1 s, waits for kept-alive TLS connections to close gracefully (up to the
  SSL shutdown timeout when a pooled client never answers the close_notify), logs at INFO on `uvicorn.error`
  and is meant to own a process. `Listener.stop()` instead closes the socket, aborts every connection (the SDKs'
  pools reconnect elsewhere) and cancels what still runs, in a few milliseconds.
- `_Protocol` (a subclass of uvicorn's `H11Protocol`) sends uvicorn's own log lines to this module's logger at
  DEBUG with no access log, lets the app abort its connection (`ABORT_EXTENSION` in the ASGI scope: a dropped
  connection is a socket closed without a byte of answer, as a network failure looks to the SDKs), and answers a
  body h11 cannot parse (a broken chunked encoding) with the API's own "unreadable body" error.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Coroutine
from email.utils import formatdate
from typing import Any, Protocol, TypeVar

import h11
import uvicorn
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import STATUS_PHRASES, H11Protocol
from uvicorn.server import ServerState

from portal.sandbox.api import ApiRequest
from portal.sandbox.errors import ApiResponse

log = logging.getLogger(__name__)

T = TypeVar("T")

ABORT_EXTENSION = "portal.sandbox.abort"  # scope["extensions"][...]: closes the connection without an answer
JSON_CONTENT_TYPE = b"application/json; charset=utf-8"
BODY_IDLE_TIMEOUT = 10.0  # seconds without a byte of a started request body: the body is unreadable
KEEP_ALIVE_TIMEOUT = 30  # seconds an idle kept-alive connection stays open
TLS_HANDSHAKE_TIMEOUT = 10.0  # a client that never finishes its handshake is let go
TLS_SHUTDOWN_TIMEOUT = 5.0  # a closed TLS connection waits this long at most for the client's close_notify
STOP_TIMEOUT = 5.0  # at most this long for the requests still running when a listener stops
_NO_BODY_STATUSES = (204, 304)


class Api(Protocol):
    def handle(self, request: ApiRequest) -> ApiResponse: ...


class Drop:
    """What `Gate.admit` returns to have the connection closed without any answer."""

    def __repr__(self) -> str:
        return "DROP_CONNECTION"


DROP_CONNECTION = Drop()


class Gate(Protocol):
    """What stands before an API: the sandbox's faults and request limits, and the answers of the listener's own."""

    async def admit(self, method: str, path: str) -> ApiResponse | Drop | None:
        """Counts the request and waits out any latency; None lets it through to the API."""
        ...

    def unreadable_body_response(self) -> ApiResponse: ...

    def internal_error_response(self, err: Exception) -> ApiResponse: ...


class ApiApp:
    """The ASGI app of one listener: `api.handle(ApiRequest) -> ApiResponse` behind `gate`."""

    def __init__(self, api: Api, gate: Gate) -> None:
        self.api = api
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # no lifespan is run, and there are no websockets
            return
        request = Request(scope, receive)
        method = request.method.upper()
        path = scope["raw_path"].decode("latin-1")  # percent-encoded, as received
        request_id = request.headers.get("x-ms-client-request-id")
        try:
            body = await _read_body(request)
        except ClientDisconnect:
            return  # gone before its body arrived (or its body could not be parsed and was answered already)
        except TimeoutError:
            answer = _render(self.gate.unreadable_body_response(), request_id, close=True)
            await answer(scope, receive, send)
            return
        decision = await self.gate.admit(method, path)
        if decision is DROP_CONNECTION:
            await _drop(scope, receive)
            return
        if isinstance(decision, ApiResponse):
            answer = _render(decision, request_id)
        else:
            api_request = ApiRequest(
                method=method,
                path=path,
                query=dict(request.query_params),  # the last value of a repeated parameter, as parse_qsl gives
                headers=dict(request.headers.items()),  # lower-case names
                body=body,
            )
            answer = await run_in_threadpool(self._answer, api_request, request_id)
        await answer(scope, receive, send)
        if log.isEnabledFor(logging.DEBUG):
            log.debug('%s "%s %s" %d', request.client and request.client.host, method, path, answer.status_code)

    def _answer(self, request: ApiRequest, request_id: str | None) -> Response:
        """In a worker thread: the API's answer, rendered (JSON encoding included, it can be large)."""
        try:
            return _render(self.api.handle(request), request_id)
        except Exception as err:  # a sandbox bug: answer like the service would, and leave a trace
            log.exception("sandbox failed on %s %s", request.method, request.path)
            return _render(self.gate.internal_error_response(err), request_id)

    def unreadable_body_answer(self, scope: Scope) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """The status, headers and body the protocol writes itself when h11 cannot parse a request's body."""
        request_id = Request(scope).headers.get("x-ms-client-request-id")
        answer = _render(self.gate.unreadable_body_response(), request_id, close=True)
        return answer.status_code, answer.raw_headers, bytes(answer.body)


async def _read_body(request: Request) -> bytes:
    """The whole body; TimeoutError when the client sends nothing for BODY_IDLE_TIMEOUT seconds."""
    chunks: list[bytes] = []
    stream: AsyncIterator[bytes] = request.stream()
    try:
        while True:
            async with asyncio.timeout(BODY_IDLE_TIMEOUT):
                chunk = await anext(stream, None)
            if chunk is None:
                return b"".join(chunks)
            chunks.append(chunk)
    finally:
        await stream.aclose()  # type: ignore[attr-defined]


async def _drop(scope: Scope, receive: Receive) -> None:
    """Close the connection without a byte of answer: the client sees it end mid-request."""
    scope["extensions"][ABORT_EXTENSION]()
    # Until the protocol has seen the connection go, it would answer 500 for an app that returned without one.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(1):
            while (await receive())["type"] != "http.disconnect":
                pass


def _render(response: ApiResponse, request_id: str | None, close: bool = False) -> Response:
    """The HTTP answer for an `ApiResponse`; header names keep their case (`Retry-After`, as the service sends)."""
    headers = [(b"Date", _http_date())]
    if request_id:
        headers.append((b"x-ms-client-request-id", request_id.encode("latin-1")))
    headers.extend((name.encode("latin-1"), str(value).encode("latin-1")) for name, value in response.headers.items())
    if close:
        headers.append((b"Connection", b"close"))
    if response.status in _NO_BODY_STATUSES:
        payload = b""
    else:
        if isinstance(response.body, bytes):  # a download: the API set its Content-Type
            payload = response.body
        else:
            payload = b"" if response.body is None else json.dumps(response.body).encode("utf-8")
            if payload:
                headers.append((b"Content-Type", JSON_CONTENT_TYPE))
        headers.append((b"Content-Length", str(len(payload)).encode("ascii")))
    answer = Response(payload, status_code=response.status)
    answer.raw_headers = headers
    return answer


_date_cache: tuple[int, bytes] = (0, b"")


def _http_date() -> bytes:
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, formatdate(now, usegmt=True).encode("ascii"))
    return _date_cache[1]


# -- uvicorn: the protocol, one listener, the loop thread ----------------------------------------------------------


class _AtDebug(logging.LoggerAdapter):
    """uvicorn's log calls (warnings and errors about clients included), all at DEBUG on this module's logger."""

    level = logging.DEBUG  # uvicorn reads `logger.level` to decide on its TRACE lines

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        super().log(logging.DEBUG, msg, *args, **kwargs)


_UVICORN_LOG = _AtDebug(log, {})


class _Protocol(H11Protocol):
    """uvicorn's h11 protocol, quiet, with an abort for the app and the API's answer to an unparseable body."""

    def __init__(self, *args: Any, sandbox_app: ApiApp, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.logger = _UVICORN_LOG  # type: ignore[assignment]
        self.access_log = False
        self._sandbox_app = sandbox_app
        self._served_app = self.app
        self.app = self._with_extensions

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # a stream: a Transport
        sock = transport.get_extra_info("socket")
        if sock is not None:  # asyncio does it already for TCP sockets (see bind); certain beats likely
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)

    async def _with_extensions(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope.setdefault("extensions", {})[ABORT_EXTENSION] = self.transport.abort
        await self._served_app(scope, receive, send)

    def send_400_response(self, msg: str) -> None:
        cycle = self.cycle
        if cycle is None or cycle.response_started or cycle.disconnected or not cycle.more_body:
            super().send_400_response(msg)  # a request line or headers h11 refuses: uvicorn's plain 400
            return
        # The request was fine up to its body: answer as the API does when it cannot read one, then close.
        status, headers, body = self._sandbox_app.unreadable_body_answer(cycle.scope)  # type: ignore[arg-type]
        try:
            output = self.conn.send(h11.Response(status_code=status, headers=headers, reason=STATUS_PHRASES[status]))
            output = (output or b"") + (self.conn.send(h11.Data(data=body)) or b"")
            output += self.conn.send(h11.EndOfMessage()) or b""
            self.transport.write(output)
        except h11.LocalProtocolError:
            pass
        self.transport.close()
        cycle.disconnected = True  # the app, waiting for the rest of the body, stops (ClientDisconnect)
        cycle.message_event.set()


class Listener:
    """One bound socket served by uvicorn's h11 protocol on the running loop; TLS when given a context."""

    def __init__(self, app: ApiApp, sock: socket.socket, ssl_context: ssl.SSLContext | None = None) -> None:
        self.app = app
        self.sock = sock
        self.ssl_context = ssl_context
        self.port: int = sock.getsockname()[1]
        self.config = uvicorn.Config(
            app,
            http=functools.partial(_Protocol, sandbox_app=app),  # type: ignore[arg-type]
            ws="none",
            lifespan="off",
            interface="asgi3",
            log_config=None,  # leave the process's logging alone
            proxy_headers=False,
            server_header=False,
            date_header=False,  # the app sends its own Date
            timeout_keep_alive=KEEP_ALIVE_TIMEOUT,
        )
        self.config.load()
        self.state = ServerState()
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()

        def protocol() -> asyncio.Protocol:
            return self.config.http_protocol_class(  # type: ignore[call-arg]
                config=self.config, server_state=self.state, app_state={}, _loop=loop
            )

        tls: dict[str, Any] = (
            {}
            if self.ssl_context is None
            else {
                "ssl": self.ssl_context,
                "ssl_handshake_timeout": TLS_HANDSHAKE_TIMEOUT,
                "ssl_shutdown_timeout": TLS_SHUTDOWN_TIMEOUT,
            }
        )
        # Accepting once this returns.
        self._server = await loop.create_server(protocol, sock=self.sock, backlog=128, **tls)

    async def stop(self) -> None:
        """Stop accepting, end every connection (kept-alive ones too) and the requests they still run."""
        if self._server is not None:
            self._server.close()  # closes the listening socket
        else:
            self.sock.close()
        for connection in list(self.state.connections):
            connection.transport.abort()
        await asyncio.sleep(0)  # connection_lost callbacks: the requests' receive() learns of the disconnect
        await asyncio.sleep(0)
        tasks = list(self.state.tasks)
        for task in tasks:
            task.cancel()  # an API call already in a worker thread finishes first (anyio shields it)
        if tasks:
            await asyncio.wait(tasks, timeout=STOP_TIMEOUT)
        if self._server is not None:
            await self._server.wait_closed()


def _log_loop_exception(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Clients that break off (TLS handshakes refused, connections reset) are the sandbox's daily bread."""
    if isinstance(context.get("exception"), (OSError, ssl.SSLError)):
        log.debug("%s", context.get("message"), exc_info=context.get("exception"))
    else:
        loop.default_exception_handler(context)


class LoopThread:
    """An asyncio event loop on a daemon thread of its own; `call` runs a coroutine on it from any other thread."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> LoopThread:
        started = threading.Event()
        # asyncio.run, so that the loop's main task is the root task anyio stops its worker threads with.
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main(started)), name=self.name, daemon=True)
        self._thread.start()
        started.wait()
        return self

    async def _main(self, started: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop.set_exception_handler(_log_loop_exception)
        self._stopping = asyncio.Event()
        started.set()
        await self._stopping.wait()

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        if self._loop is None:
            coroutine.close()
            raise RuntimeError("the event loop is not running")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def stop(self, timeout: float = 5) -> None:
        loop, stopping, thread = self._loop, self._stopping, self._thread
        self._loop = None
        if loop is not None and stopping is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed already
                loop.call_soon_threadsafe(stopping.set)
        if thread is not None:
            thread.join(timeout)


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port), port 0 = a free port the OS chooses; the listener listens on it."""
    # IPPROTO_TCP spelled out: asyncio turns Nagle off (TCP_NODELAY) only on sockets whose proto says TCP, and
    # accepted sockets inherit it. With Nagle on, a body written after its headers waits for the client's delayed
    # ACK: ~40 ms on every request of a kept-alive connection.
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        if os.name != "nt":  # restarting on a fixed port must not wait for TIME_WAIT (as socketserver does)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock
