"""What stands between the open internet and the handlers of ``clickme serve``.

- :class:`Guard` (ASGI middleware): a request body is read in full, up to ``max_body_bytes``
  (413 beyond, before any JSON parsing) and within ``body_timeout_s`` (408); every reply gets
  the usual security headers, and ``/admin`` and ``/api`` replies ``Cache-Control: no-store``;
  one access-log line per request (method, path *without* the query string, status, ms) on the
  ``clickme.serve.access`` logger.
- :class:`GuardedHttpToolsProtocol` (uvicorn's HTTP protocol): a connection that has not sent a whole
  request head within ``header_timeout_s`` of opening (or of its last reply) is closed.
- :class:`RateLimit`: a token bucket per client address (``/start``).
- :class:`InFlight`: at most one partner query per participant at a time (429 otherwise).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

#: Headers every reply carries
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
)
NO_STORE = (b"cache-control", b"no-store")
ACCESS_LOG = logging.getLogger("clickme.serve.access")
#: Environment variable with the header timeout of :class:`GuardedHttpToolsProtocol` (seconds)
HEADER_TIMEOUT_ENV = "CLICKME_HEADER_TIMEOUT_S"


async def _reply(send, status: int, message: str) -> None:
    body = json.dumps({"detail": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                *SECURITY_HEADERS,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive, limit: int, timeout: float):
    """The whole body (bytes), or the status that refuses it: 413 too large, 408 too slow, 400 cut off."""
    chunks, size = [], 0
    deadline = time.monotonic() + timeout
    while True:
        try:
            message = await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            return 408
        if message["type"] == "http.disconnect":
            return 400
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return 413
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class Guard:
    """ASGI middleware: bounded bodies, security headers, an access log without query strings.

    Parameters
    ----------
    app : ASGI application
    max_body_bytes : int
        Largest request body accepted (413 beyond, decided from ``Content-Length`` when given).
    body_timeout_s : float
        Time allowed to send the whole body (408 beyond).
    """

    def __init__(self, app, max_body_bytes: int = 262_144, body_timeout_s: float = 10.0):
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout_s = body_timeout_s

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        path = scope["path"]
        private = path.startswith(("/admin", "/api"))
        status = [0]

        async def send_guarded(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                headers = list(message.get("headers", [])) + list(SECURITY_HEADERS)
                if private:
                    headers = [h for h in headers if h[0].lower() != b"cache-control"] + [NO_STORE]
                message = {**message, "headers": headers}
            await send(message)

        try:
            if scope["method"] in ("POST", "PUT", "PATCH"):
                refused = self._refused_by_length(scope)
                body = refused or await _read_body(receive, self.max_body_bytes, self.body_timeout_s)
                if isinstance(body, int):
                    status[0] = body
                    return await _reply(
                        send,
                        body,
                        {
                            413: f"request body larger than {self.max_body_bytes} bytes",
                            408: "request body not received in time",
                            400: "request body cut off",
                        }[body],
                    )
                receive = _replay(body, receive)
            await self.app(scope, receive, send_guarded)
        finally:
            if ACCESS_LOG.isEnabledFor(logging.INFO):
                client = (scope.get("client") or ("-",))[0]
                ACCESS_LOG.info(
                    "%s %s %s %d %.1fms", client, scope["method"], path, status[0], 1000 * (time.perf_counter() - start)
                )

    def _refused_by_length(self, scope) -> int | None:
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    return 413 if int(value) > self.max_body_bytes else None
                except ValueError:
                    return 400
        return None


def _replay(body: bytes, receive):
    """A ``receive`` that gives the body read once, then the connection's own (its disconnect)."""
    sent = [False]

    async def replay():
        if sent[0]:
            return await receive()
        sent[0] = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol (a C parser, where h11 is pure Python), closing
    connections whose request head is not complete within ``$CLICKME_HEADER_TIMEOUT_S`` seconds
    (default 10) of opening or of the last reply (idle and half-sent sockets). The setting
    travels in the environment so that worker processes see it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.header_timeout_s = float(os.environ.get(HEADER_TIMEOUT_ENV, "10"))
        self._head_timer = None

    def connection_made(self, transport) -> None:
        """Start the connection's clock as uvicorn starts serving it."""
        super().connection_made(transport)
        self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timeout)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timeout(self) -> None:
        self._head_timer = None
        if (self.cycle is None or self.cycle.response_complete) and not self.transport.is_closing():
            self.transport.close()

    def on_headers_complete(self) -> None:
        """A whole request head arrived: its clock stops."""
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        """The reply is out: the next request head has ``header_timeout_s`` to arrive."""
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc) -> None:
        """Stop the connection's clock, then let uvicorn close it."""
        self._disarm()
        super().connection_lost(exc)


class RateLimit:
    """A token bucket per key: ``per_minute`` calls a minute, bursts of as many.

    Examples
    --------
    >>> limit = RateLimit(2)
    >>> [limit.allow("1.2.3.4", now=0.0) for _ in range(3)], limit.allow("1.2.3.4", now=30.0)
    ([True, True, False], True)
    """

    def __init__(self, per_minute: int):
        self.rate = per_minute / 60.0
        self.burst = float(per_minute)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str, now: float | None = None) -> bool:
        if self.burst <= 0:
            return True
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            ok = tokens >= 1
            self._buckets[key] = (tokens - 1 if ok else tokens, now)
            if len(self._buckets) > 100_000:  # forget full buckets (bounded memory)
                self._buckets = {k: v for k, v in self._buckets.items() if v[0] < self.burst - 1}
        return ok


class InFlight:
    """Keys with a call running: :meth:`enter` is False when the key already has one.

    Examples
    --------
    >>> busy = InFlight()
    >>> busy.enter("P1"), busy.enter("P1"), busy.leave("P1"), busy.enter("P1")
    (True, False, None, True)
    """

    def __init__(self):
        self._keys: set = set()
        self._lock = threading.Lock()

    def enter(self, key) -> bool:
        with self._lock:
            if key in self._keys:
                return False
            self._keys.add(key)
            return True

    def leave(self, key) -> None:
        with self._lock:
            self._keys.discard(key)
