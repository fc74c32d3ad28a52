"""TCP address handling with Go's ``net`` semantics and error texts.

A proxy's ``listen`` is reported as the *bound* address while it runs (``localhost:0`` →
``127.0.0.1:41234``), and ``/populate`` and ``PATCH`` compare addresses through
``net.ResolveTCPAddr(...).String()``. Clients see Go's error strings in
500 answers (``listen tcp 127.0.0.1:3310: bind: address already in use``), so they are reproduced
here as closely as practical.
"""

from __future__ import annotations

import errno
import os
import socket
from dataclasses import dataclass


class AddressError(Exception):
    """An address could not be parsed, resolved or bound; ``str()`` is Go's error text."""


@dataclass(frozen=True, kw_only=True)
class TcpAddr:
    """A resolved TCP address; ``host`` is an IP literal or ``""`` for the wildcard."""

    host: str
    port: int

    @property
    def family(self) -> socket.AddressFamily:
        """Address family to bind with (the wildcard is dual-stack IPv6 where available)."""
        if not self.host:
            return socket.AF_INET6 if socket.has_ipv6 else socket.AF_INET
        return socket.AF_INET6 if ":" in self.host else socket.AF_INET

    def __str__(self) -> str:
        return join_host_port(self.host, self.port)


def join_host_port(host: str, port: int) -> str:
    """``host:port`` with IPv6 literals bracketed, like Go's ``net.JoinHostPort``."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def split_host_port(addr: str) -> tuple[str, str]:
    """Split ``host:port`` like Go's ``net.SplitHostPort`` (brackets for IPv6 literals)."""
    colon = addr.rfind(":")
    if colon < 0:
        raise AddressError(f"address {addr}: missing port in address")
    if addr.startswith("["):
        end = addr.find("]")
        if end < 0:
            raise AddressError(f"address {addr}: missing ']' in address")
        if end + 1 != colon:
            raise AddressError(f"address {addr}: missing port in address")
        host = addr[1:end]
    else:
        host = addr[:colon]
        if ":" in host:
            raise AddressError(f"address {addr}: too many colons in address")
    return host, addr[colon + 1 :]


def _parse_port(text: str, addr: str) -> int:
    if not text:
        return 0
    if not text.isdigit() or int(text) > 65535:
        raise AddressError(f"address {addr}: invalid port")
    return int(text)


def resolve(addr: str) -> TcpAddr:
    """Resolve ``addr`` like ``net.ResolveTCPAddr("tcp", addr)`` (IPv4 preferred for names)."""
    host, port_text = split_host_port(addr)
    port = _parse_port(port_text, addr)
    if host in ("", "0.0.0.0", "::"):
        return TcpAddr(host="" if host != "::" else "::", port=port)
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise AddressError(f"lookup {host}: no such host") from None
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    ip = str(infos[0][4][0]).split("%")[0]
    return TcpAddr(host=ip, port=port)


def resolve_string(addr: str) -> str:
    """``net.ResolveTCPAddr(addr).String()``: the form compared by populate and update."""
    resolved = resolve(addr)
    return join_host_port(resolved.host, resolved.port)


def _bound_name(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    if host in ("::", "0.0.0.0"):
        host = "::" if sock.family == socket.AF_INET6 else "0.0.0.0"
    return join_host_port(str(host), int(port))


def bind_listener(listen: str, backlog: int = 1024) -> tuple[socket.socket, str]:
    """Bind and listen on ``listen`` (Go ``net.Listen``); return the socket and its bound address."""
    try:
        target = resolve(listen)
    except AddressError as exc:
        raise AddressError(f"listen tcp: {exc}") from None
    family = target.family
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        host = target.host
        if not host or host == "::":
            host = "::" if family == socket.AF_INET6 else "0.0.0.0"
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind((host, target.port))
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
        if exc.errno == errno.EADDRINUSE:
            reason = "address already in use"
        raise AddressError(f"listen tcp {target}: bind: {reason}") from None
    return sock, _bound_name(sock)
