"""``vmintro serve``: the explorer over HTTP, from the standard library's server.

A fixed set of routes, and nothing else: the page's three files (read from the
package once, by fixed names), ``/api/explorer`` (the document the page starts
from), ``/api/vtop?addr=HEX`` (``vtop ADDR --json``) and, when the image has a
timeline, ``/api/snapshot?at=N``. No part of a request names a file; the only
file the server reads is the image it was given, through the library. Anything
else is answered with a 4xx status and one line of text. Requests are served one
at a time against the program (its caches are not shared between threads).
"""

from __future__ import annotations

import ipaddress
import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from vmintro.errors import VmintroError
from vmintro.explorer.data import AddressError, parse_address
from vmintro.explorer.document import Explorer, MomentError
from vmintro.explorer.page import SERVED_CSP, served_index, static_file

if TYPE_CHECKING:
    from vmintro.program import Program

__all__ = ["ExplorerServer", "is_loopback", "make_server"]

_TYPES = {
    "explorer.css": "text/css; charset=utf-8",
    "explorer.js": "text/javascript; charset=utf-8",
}
_MAX_QUERY = 256  # longer than any request the page makes


class RequestError(Exception):
    """A request the server refuses: its status and one line saying why."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine only (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ExplorerServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], explorer: Explorer) -> None:
        super().__init__(address, _Handler)
        self.explorer = explorer
        self.lock = threading.Lock()
        # On loopback, a request must name this machine in its Host header: a page
        # elsewhere that points its own name at 127.0.0.1 (DNS rebinding) is refused.
        port = self.server_address[1]
        names = ("localhost", "127.0.0.1", "[::1]", str(address[0]))
        self.hosts = {f"{name}:{port}" for name in names} if is_loopback(address[0]) else None


def make_server(
    prog: Program, title: str, host: str = "127.0.0.1", port: int = 0
) -> ExplorerServer:
    """A server for ``prog`` on ``host:port`` (0: any free port), not yet serving."""
    return ExplorerServer((host, port), Explorer(prog, title))


class _Handler(BaseHTTPRequestHandler):
    server: ExplorerServer
    server_version = "vmintro-explorer"
    sys_version = ""
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        pass  # a local tool: no access log on the terminal

    def do_GET(self) -> None:  # noqa: N802 - the base class's name
        try:
            status, kind, body = self._route()
        except RequestError as e:
            status, kind, body = e.status, "text/plain; charset=utf-8", f"{e}\n".encode()
        self._send(status, kind, body)

    def do_HEAD(self) -> None:  # noqa: N802
        self._refuse()

    def do_POST(self) -> None:  # noqa: N802
        self._refuse()

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_POST  # noqa: N815

    def _refuse(self) -> None:
        body = f"{self.command} is not served here: only GET\n".encode()
        self._send(HTTPStatus.METHOD_NOT_ALLOWED, "text/plain; charset=utf-8", body, allow=True)

    def _send(self, status: HTTPStatus, kind: str, body: bytes, allow: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Security-Policy", SERVED_CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "no-store")
        if allow:
            self.send_header("Allow", "GET")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _route(self) -> tuple[HTTPStatus, str, bytes]:
        hosts = self.server.hosts
        if hosts is not None and self.headers.get("Host", "") not in hosts:
            raise RequestError(HTTPStatus.BAD_REQUEST, "this server answers only for this machine")
        parts = urlsplit(self.path)
        if len(parts.query) > _MAX_QUERY:
            raise RequestError(HTTPStatus.BAD_REQUEST, "query too long")
        try:
            query = parse_qs(parts.query, strict_parsing=bool(parts.query))
        except ValueError:
            raise RequestError(HTTPStatus.BAD_REQUEST, "malformed query") from None
        path = parts.path
        if path in ("/", "/index.html"):
            self._no_query(query)
            return HTTPStatus.OK, "text/html; charset=utf-8", served_index().encode()
        name = path[1:]
        if name in _TYPES:
            self._no_query(query)
            return HTTPStatus.OK, _TYPES[name], static_file(name).encode()
        if path == "/api/explorer":
            self._no_query(query)
            return self._json(lambda e: e.document())
        if path == "/api/snapshot":
            n = self._moment(self._one(query, "at"))
            return self._json(lambda e: e.moment(n))
        if path == "/api/vtop":
            try:
                addr = parse_address(self._one(query, "addr"))
            except AddressError as err:
                raise RequestError(HTTPStatus.BAD_REQUEST, f"addr: {err}") from None
            at = self._moment(query["at"][0]) if "at" in query else None
            return self._json(lambda e: e.walk(addr, at))
        raise RequestError(HTTPStatus.NOT_FOUND, "no such page")

    @staticmethod
    def _moment(text: str) -> int:
        if not text.isdigit() or len(text) > 9:
            raise RequestError(HTTPStatus.BAD_REQUEST, f"at: not an entry number: {text[:40]!r}")
        return int(text)

    @staticmethod
    def _no_query(query: dict[str, list[str]]) -> None:
        if query:
            raise RequestError(HTTPStatus.BAD_REQUEST, "this page takes no query")

    @staticmethod
    def _one(query: dict[str, list[str]], key: str) -> str:
        unknown = sorted(set(query) - {key, "at"})
        if unknown:
            raise RequestError(HTTPStatus.BAD_REQUEST, f"unknown parameter: {unknown[0][:40]!r}")
        values = query.get(key)
        if not values or len(values) != 1:
            raise RequestError(HTTPStatus.BAD_REQUEST, f"give {key} once")
        return values[0]

    def _json(self, compute: Any) -> tuple[HTTPStatus, str, bytes]:
        with self.server.lock:
            try:
                data = compute(self.server.explorer)
            except MomentError as e:
                raise RequestError(HTTPStatus.NOT_FOUND, str(e)) from None
            except VmintroError as e:  # the image cannot give it (a damaged timeline)
                message = " ".join(str(e).split())
                raise RequestError(HTTPStatus.INTERNAL_SERVER_ERROR, message) from None
        body = json.dumps(data, separators=(",", ":")).encode()
        return HTTPStatus.OK, "application/json", body
