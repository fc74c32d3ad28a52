"""Benchmark of the fault proxy with no toxics: direct vs proxied, side by side in one run.

Run: ``python tests/benchmarks/proxy_bench.py [--round-trips 20000] [--megabytes 1024]``.

What is measured (one loopback connection each, as DESIGN.md §8 asks):

* round trip of a 64-byte message through an echo server (p50 and p99, after a warm-up);
* throughput of one connection, one direction, into a sink server that acknowledges the total;
* connect time: ``connect()`` plus a 1-byte echo round trip on the new connection (p50).

The echo/sink server is a single-threaded ``selectors`` loop in its own process and the proxy is started as a user would start it
(``python -m harness.faults.proxy``, a subprocess), so the benchmark client, the server and the
proxy do not share a GIL. If ``toxiproxy-server`` is on PATH or in /usr/local/bin it is measured
too, against the same servers.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]

ECHO_SERVER = r"""
import selectors, socket, struct, sys
sel = selectors.DefaultSelector()
buf = bytearray(1 << 20)
view = memoryview(buf)
def listen(kind):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(4096)
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ, ("listen", kind))
    return s.getsockname()[1]
def close(conn):
    sel.unregister(conn)
    conn.close()
ports = [listen("echo"), listen("sink")]
print(*ports, flush=True)
sel.register(sys.stdin, selectors.EVENT_READ, ("stdin", None))
while True:
    for key, _ in sel.select():
        role, state = key.data
        if role == "stdin":
            raise SystemExit(0)
        if role == "listen":
            try:
                conn, _ = key.fileobj.accept()
            except BlockingIOError:
                continue
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.setblocking(True)  # echo replies are tiny: a blocking send never waits
            sel.register(conn, selectors.EVENT_READ, (state, [b"", None]))
            continue
        conn = key.fileobj
        try:
            n = conn.recv_into(buf)
        except OSError:
            n = 0
        if not n:
            close(conn)
        elif role == "echo":
            conn.sendall(view[:n])
        else:  # sink: 8-byte length, then that many bytes, then answer b"k"
            skip = 0
            if state[1] is None:
                skip = min(8 - len(state[0]), n)
                state[0] += bytes(view[:skip])
                if len(state[0]) < 8:
                    continue
                state[1] = struct.unpack("!Q", state[0])[0]
            state[1] -= n - skip
            if state[1] <= 0:
                conn.sendall(b"k")
"""


@dataclass(frozen=True, kw_only=True)
class Figures:
    """One column of the result table."""

    rtt_p50_us: float
    rtt_p99_us: float
    mb_per_s: float
    connect_p50_us: float


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _recv_exact(sock: socket.socket, size: int) -> None:
    got = 0
    while got < size:
        chunk = sock.recv(size - got)
        if not chunk:
            raise ConnectionError("connection closed during the benchmark")
        got += len(chunk)


def round_trips(port: int, count: int, warmup: int) -> tuple[float, float]:
    """p50 and p99 (µs) of 64-byte echo round trips on one connection."""
    message = b"x" * 64
    samples: list[int] = []
    with _connect(port) as sock:
        for index in range(warmup + count):
            start = time.perf_counter_ns()
            sock.sendall(message)
            _recv_exact(sock, 64)
            if index >= warmup:
                samples.append(time.perf_counter_ns() - start)
    samples.sort()
    return samples[len(samples) // 2] / 1000, samples[int(len(samples) * 0.99)] / 1000


def throughput(port: int, megabytes: int) -> float:
    """MB/s (10^6 bytes) of one connection sending ``megabytes`` MiB to the sink."""
    total = megabytes * 1024 * 1024
    block = memoryview(bytes(1024 * 1024))
    with _connect(port) as sock:
        start = time.perf_counter()
        sock.sendall(struct.pack("!Q", total))
        sent = 0
        while sent < total:
            sock.sendall(block[: min(len(block), total - sent)])
            sent += min(len(block), total - sent)
        _recv_exact(sock, 1)
        elapsed = time.perf_counter() - start
    return total / elapsed / 1e6


def connects(port: int, count: int) -> float:
    """p50 (µs) of connect + first 1-byte echo round trip."""
    samples: list[int] = []
    for _ in range(count):
        start = time.perf_counter_ns()
        with _connect(port) as sock:
            sock.sendall(b"c")
            _recv_exact(sock, 1)
            samples.append(time.perf_counter_ns() - start)
    return statistics.median(samples) / 1000


def measure(echo_port: int, sink_port: int, args: argparse.Namespace) -> Figures:
    """All figures for one path (direct or through a proxy)."""
    p50, p99 = round_trips(echo_port, args.round_trips, args.warmup)
    return Figures(
        rtt_p50_us=p50,
        rtt_p99_us=p99,
        mb_per_s=throughput(sink_port, args.megabytes),
        connect_p50_us=connects(echo_port, args.connects),
    )


@contextlib.contextmanager
def backend() -> Iterator[tuple[int, int]]:
    """The echo and sink servers, in their own process."""
    proc = subprocess.Popen(
        [sys.executable, "-c", ECHO_SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert proc.stdout is not None
    try:
        echo_port, sink_port = map(int, proc.stdout.readline().split())
        yield echo_port, sink_port
    finally:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def proxy_process(command: list[str], api_port: int) -> Iterator[str]:
    """Start a proxy server process and wait until its API answers."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LOG_LEVEL": "warning"}
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{api_port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                requests.get(f"{url}/version", timeout=1)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"proxy did not start: {' '.join(command)}") from None
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def through_proxy(url: str, echo_port: int, sink_port: int, args: argparse.Namespace) -> Figures:
    """Create two proxies (echo, sink) on the server at ``url`` and measure through them."""
    ports = []
    for name, port in (("bench_echo", echo_port), ("bench_sink", sink_port)):
        body = {"name": name, "listen": "127.0.0.1:0", "upstream": f"127.0.0.1:{port}"}
        answer = requests.post(f"{url}/proxies", json=body, timeout=5)
        answer.raise_for_status()
        ports.append(int(answer.json()["listen"].rsplit(":", 1)[1]))
    return measure(ports[0], ports[1], args)


def _row(label: str, direct: float, proxied: float, unit_added: bool = True) -> str:
    added = proxied - direct
    ratio = proxied / direct if direct else float("nan")
    return f"{label:<26}{direct:>12.1f}{proxied:>12.1f}{added:>+12.1f}{ratio:>10.2f}x"


def print_table(title: str, direct: Figures, proxied: Figures) -> None:
    """Print direct, proxied, added and ratio for each metric."""
    print(f"\n{title}")
    print(f"{'metric':<26}{'direct':>12}{'proxied':>12}{'added':>12}{'ratio':>11}")
    print(_row("round trip p50 (µs)", direct.rtt_p50_us, proxied.rtt_p50_us))
    print(_row("round trip p99 (µs)", direct.rtt_p99_us, proxied.rtt_p99_us))
    print(_row("throughput (MB/s)", direct.mb_per_s, proxied.mb_per_s))
    print(_row("connect+1st RTT p50 (µs)", direct.connect_p50_us, proxied.connect_p50_us))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--round-trips", type=int, default=20000)
    parser.add_argument("--warmup", type=int, default=2000)
    parser.add_argument("--megabytes", type=int, default=1024, help="MiB sent in the throughput test")
    parser.add_argument("--connects", type=int, default=2000)
    args = parser.parse_args()
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {args.round_trips} round trips, "
        f"{args.megabytes} MiB, {args.connects} connects"
    )
    with backend() as (echo_port, sink_port):
        direct = measure(echo_port, sink_port, args)
        api_port = _free_port()
        command = [sys.executable, "-m", "harness.faults.proxy", "--port", str(api_port)]
        with proxy_process(command, api_port) as url:
            proxied = through_proxy(url, echo_port, sink_port, args)
        print_table("chaos-audit proxy (no toxics)", direct, proxied)
        toxiproxy = shutil.which("toxiproxy-server") or (
            "/usr/local/bin/toxiproxy-server" if Path("/usr/local/bin/toxiproxy-server").exists() else None
        )
        if toxiproxy is not None:
            api_port = _free_port()
            with proxy_process([toxiproxy, "-port", str(api_port)], api_port) as url:
                official = through_proxy(url, echo_port, sink_port, args)
            print_table("official toxiproxy-server (no toxics)", direct, official)
        else:
            print("\n(toxiproxy-server not found on PATH or in /usr/local/bin: not measured)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
