"""Benchmark of the fault proxy with no toxics: direct vs proxied, side by side in one run.

Run: ``python tests/benchmarks/proxy_bench.py [--connections 50] [--rounds 3] [--only concurrent]``.
A script run by hand: nothing asserts its figures, because they depend on the machine and on
whatever else it is running. On a shared machine use ``--rounds`` (each measurement is taken on
every path back to back, round after round, and the medians are printed, so a burst of load
lands on all paths alike)
and read the proxy-CPU rows, which load changes far less than rates; ``nice -n -10`` before the
command makes the run less dependent on the neighbours.

What is measured, for each path (direct, our proxy, the official ``toxiproxy-server``):

* **one connection** (the latency a test through the proxy sees), printed as direct / proxied /
  added / ratio for each proxy, then ours relative to the official server:

  * round trip of a 64-byte message through an echo server (p50 and p99, after a warm-up);
  * throughput of one connection, one direction, into a sink server that acknowledges the total;
  * connect time: ``connect()`` plus a 1-byte echo round trip on the new connection (p50);

* **many connections** (``--connections``, 50 by default; what a load test through the proxy
  puts on it):

  * echo: every connection keeps one 64-byte message in flight for ``--seconds``; operations
    per second of all connections together and p50 of the round trips; then the same with
    16 KiB messages, as MB/s echoed;
  * bulk: every connection streams 16 KiB writes into the sink (``--bulk-megabytes`` in all)
    until the sink has acknowledged each connection's total; MB/s of all together;
  * the CPU time (user + system, from ``/proc``) each proxy process spent per 64-byte echo and
    per MB of bulk: what the proxy costs, whoever else shares the machine.

The echo/sink server is a single-threaded ``selectors`` loop in its own process and each proxy
is started as a user would start it (``python -m harness.faults.proxy``, a subprocess), so the
benchmark client, the server and the proxy do not share a GIL; both proxies are started up front
(idle, they cost nothing) and measured one after the other, never at the same time. If ``toxiproxy-server`` is on PATH or in
/usr/local/bin it is measured too, against the same servers, and the ratios of ours to it are
printed; otherwise only the ratios to the direct path are.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import select
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
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


BULK_BLOCK = 16 * 1024
ECHO_SIZE = 64


@dataclass(frozen=True, kw_only=True)
class Figures:
    """One column of the result table."""

    rtt_p50_us: float
    rtt_p99_us: float
    mb_per_s: float
    connect_p50_us: float


@dataclass(frozen=True, kw_only=True)
class Concurrent:
    """The many-connections figures of one path."""

    echo_ops_per_s: float
    echo_p50_us: float
    echo_16k_mb_per_s: float
    bulk_mb_per_s: float
    #: CPU time (user + system) the proxy process spent per 64 B echo / per MB of bulk; NaN direct
    cpu_per_echo_us: float = float("nan")
    cpu_per_mb_us: float = float("nan")


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
def proxy_process(command: list[str], api_port: int) -> Iterator[tuple[str, int]]:
    """Start a proxy server process and wait until its API answers; its URL and pid."""
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
        yield url, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def concurrent_echo(
    port: int, connections: int, seconds: float, warmup: float, size: int = ECHO_SIZE
) -> tuple[float, float]:
    """Operations/s and p50 (µs) of ``size``-byte echoes, one in flight on each of ``connections``."""
    message = b"x" * size
    socks = [_connect(port) for _ in range(connections)]
    poller = select.epoll()
    state: dict[int, list[object]] = {}  # fd -> [socket, bytes back so far, when sent]
    try:
        for sock in socks:  # blocking sends (one message never fills the buffers), polled reads
            poller.register(sock.fileno(), select.EPOLLIN)
            state[sock.fileno()] = [sock, 0, time.perf_counter_ns()]
            sock.sendall(message)
        samples: list[int] = []
        begin = time.perf_counter_ns()
        measure_from = begin + int(warmup * 1e9)
        end = measure_from + int(seconds * 1e9)
        buffer = bytearray(max(size, 4096))
        now = begin
        while now < end:
            for fd, _events in poller.poll(1.0):
                entry = state[fd]
                sock = entry[0]
                assert isinstance(sock, socket.socket)
                try:
                    got = sock.recv_into(buffer, 0, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    continue
                if not got:
                    raise ConnectionError("connection closed during the benchmark")
                got += entry[1]  # type: ignore[operator]
                if got < size:
                    entry[1] = got
                    continue
                now = time.perf_counter_ns()
                if measure_from <= now < end:
                    samples.append(now - entry[2])  # type: ignore[operator]
                entry[1] = 0
                entry[2] = now
                sock.sendall(message)
            now = time.perf_counter_ns()
    finally:
        poller.close()
        for sock in socks:
            sock.close()
    if not samples:
        raise RuntimeError("no echo completed during the measurement")
    samples.sort()
    return len(samples) / seconds, samples[len(samples) // 2] / 1000


def concurrent_bulk(port: int, connections: int, megabytes: int) -> float:
    """MB/s (10^6 bytes) of ``connections`` streams of 16 KiB writes into the sink, all together."""
    per_connection = megabytes * 1024 * 1024 // connections // BULK_BLOCK * BULK_BLOCK
    block = memoryview(bytes(BULK_BLOCK))
    socks = [_connect(port) for _ in range(connections)]
    poller = select.epoll()
    left: dict[int, int] = {}
    by_fd: dict[int, socket.socket] = {}
    try:
        start = time.perf_counter()
        for sock in socks:
            sock.sendall(struct.pack("!Q", per_connection))
            sock.setblocking(False)
            by_fd[sock.fileno()] = sock
            left[sock.fileno()] = per_connection
            poller.register(sock.fileno(), select.EPOLLOUT)
        acknowledged = 0
        while acknowledged < connections:
            for fd, events in poller.poll(5.0):
                sock = by_fd[fd]
                if events & select.EPOLLOUT:
                    remaining = left[fd]
                    try:
                        sent = sock.send(block[: min(BULK_BLOCK, remaining)])
                    except BlockingIOError:
                        continue
                    left[fd] = remaining - sent
                    if left[fd] == 0:
                        poller.modify(fd, select.EPOLLIN)
                elif events & (select.EPOLLIN | select.EPOLLHUP | select.EPOLLERR):
                    if sock.recv(1) != b"k":
                        raise ConnectionError("sink connection closed during the benchmark")
                    poller.unregister(fd)
                    acknowledged += 1
        elapsed = time.perf_counter() - start
    finally:
        poller.close()
        for sock in socks:
            sock.close()
    return per_connection * connections / elapsed / 1e6


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux ``/proc``), NaN without one."""
    if pid is None:
        return float("nan")
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, kw_only=True)
class Route:
    """One path to the echo and sink servers: direct, or through a proxy (``pid``: its process)."""

    name: str
    echo: int
    sink: int
    pid: int | None = None


Probe = Callable[[Route], dict[str, float]]


def single_probes(args: argparse.Namespace) -> list[Probe]:
    """The one-connection measurements, each giving some fields of :class:`Figures`."""

    def rtt(route: Route) -> dict[str, float]:
        p50, p99 = round_trips(route.echo, args.round_trips, args.warmup)
        return {"rtt_p50_us": p50, "rtt_p99_us": p99}

    return [
        rtt,
        lambda route: {"mb_per_s": throughput(route.sink, args.megabytes)},
        lambda route: {"connect_p50_us": connects(route.echo, args.connects)},
    ]


def concurrent_probes(args: argparse.Namespace) -> list[Probe]:
    """The many-connections measurements, each giving some fields of :class:`Concurrent`."""

    def echo(route: Route) -> dict[str, float]:
        before = cpu_seconds(route.pid)
        ops, p50 = concurrent_echo(route.echo, args.connections, args.seconds, args.warmup_seconds)
        echoes = ops * (args.seconds + args.warmup_seconds)  # the warm-up's echoes cost CPU too
        cpu = (cpu_seconds(route.pid) - before) / echoes * 1e6
        return {"echo_ops_per_s": ops, "echo_p50_us": p50, "cpu_per_echo_us": cpu}

    def echo_16k(route: Route) -> dict[str, float]:
        ops, _p50 = concurrent_echo(
            route.echo, args.connections, args.seconds, args.warmup_seconds, size=BULK_BLOCK
        )
        return {"echo_16k_mb_per_s": ops * BULK_BLOCK / 1e6}

    def bulk(route: Route) -> dict[str, float]:
        before = cpu_seconds(route.pid)
        rate = concurrent_bulk(route.sink, args.connections, args.bulk_megabytes)
        cpu = (cpu_seconds(route.pid) - before) / (args.bulk_megabytes * 1.048576) * 1e6
        return {"bulk_mb_per_s": rate, "cpu_per_mb_us": cpu}

    return [echo, echo_16k, bulk]


def run_probes(probes: list[Probe], routes: list[Route], rounds: int) -> dict[str, dict[str, float]]:
    """Each probe on every route back to back, ``rounds`` times; the median of each field.

    The routes take turns within each probe, starting with a different one each round, so that a
    burst of load from elsewhere lands on all of them alike rather than on one whole column.
    """
    samples: dict[str, dict[str, list[float]]] = {route.name: {} for route in routes}
    for number in range(rounds):
        for probe in probes:
            for route in routes[number % len(routes) :] + routes[: number % len(routes)]:
                for field, value in probe(route).items():
                    samples[route.name].setdefault(field, []).append(value)
    return {
        name: {field: statistics.median(values) for field, values in fields.items()}
        for name, fields in samples.items()
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def create_proxies(url: str, echo_port: int, sink_port: int) -> tuple[int, int]:
    """Create two proxies (echo, sink) on the server at ``url``; their listening ports."""
    ports = []
    for name, port in (("bench_echo", echo_port), ("bench_sink", sink_port)):
        body = {"name": name, "listen": "127.0.0.1:0", "upstream": f"127.0.0.1:{port}"}
        answer = requests.post(f"{url}/proxies", json=body, timeout=5)
        answer.raise_for_status()
        ports.append(int(answer.json()["listen"].rsplit(":", 1)[1]))
    return ports[0], ports[1]


def _ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}x" if base and not math.isnan(base) and not math.isnan(value) else "n/a"


def _row(label: str, direct: float, proxied: float) -> str:
    added = proxied - direct
    return f"{label:<26}{direct:>12.1f}{proxied:>12.1f}{added:>+12.1f}{_ratio(proxied, direct):>11}"


def print_table(title: str, direct: Figures, proxied: Figures) -> None:
    """Print direct, proxied, added and ratio for each one-connection metric."""
    print(f"\n{title}")
    print(f"{'metric':<26}{'direct':>12}{'proxied':>12}{'added':>12}{'ratio':>11}")
    print(_row("round trip p50 (µs)", direct.rtt_p50_us, proxied.rtt_p50_us))
    print(_row("round trip p99 (µs)", direct.rtt_p99_us, proxied.rtt_p99_us))
    print(_row("throughput (MB/s)", direct.mb_per_s, proxied.mb_per_s))
    print(_row("connect+1st RTT p50 (µs)", direct.connect_p50_us, proxied.connect_p50_us))


def print_single_vs_official(direct: Figures, ours: Figures, official: Figures) -> None:
    """Ours relative to the official server on one connection (< 1 is better for times)."""
    print("\none connection, ours / official (times: < 1 is better; throughput: > 1 is better)")
    for label, mine, theirs in (
        (
            "added round trip p50",
            ours.rtt_p50_us - direct.rtt_p50_us,
            official.rtt_p50_us - direct.rtt_p50_us,
        ),
        (
            "added round trip p99",
            ours.rtt_p99_us - direct.rtt_p99_us,
            official.rtt_p99_us - direct.rtt_p99_us,
        ),
        ("throughput", ours.mb_per_s, official.mb_per_s),
        (
            "added connect+1st RTT p50",
            ours.connect_p50_us - direct.connect_p50_us,
            official.connect_p50_us - direct.connect_p50_us,
        ),
    ):
        print(f"{label:<28}{mine:>12.1f}{theirs:>12.1f}{_ratio(mine, theirs):>11}")


def print_concurrent(connections: int, columns: dict[str, Concurrent]) -> None:
    """Print the many-connections figures of every path and the ratios of ours to the others."""
    print(f"\n{connections} concurrent connections, no toxics")
    print(f"{'metric':<30}" + "".join(f"{name:>12}" for name in columns), end="")
    others = [name for name in columns if name != "ours"]
    print("".join(f"{'ours/' + name:>16}" for name in others))
    for label, attr in (
        ("64 B echo (ops/s)", "echo_ops_per_s"),
        ("64 B echo p50 (µs)", "echo_p50_us"),
        ("16 KiB echo (MB/s)", "echo_16k_mb_per_s"),
        ("16 KiB bulk (MB/s)", "bulk_mb_per_s"),
        ("proxy CPU / 64 B echo (µs)", "cpu_per_echo_us"),
        ("proxy CPU / bulk MB (µs)", "cpu_per_mb_us"),
    ):
        values = {name: float(getattr(figures, attr)) for name, figures in columns.items()}
        cells = "".join(f"{'-' if math.isnan(value) else f'{value:.1f}':>12}" for value in values.values())
        print(f"{label:<30}{cells}", end="")
        print("".join(f"{_ratio(values['ours'], values[name]):>16}" for name in others))


def official_server() -> str | None:
    """The official ``toxiproxy-server``, if this machine has one."""
    fallback = Path("/usr/local/bin/toxiproxy-server")
    return shutil.which("toxiproxy-server") or (str(fallback) if fallback.exists() else None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--round-trips", type=int, default=20000)
    parser.add_argument("--warmup", type=int, default=2000)
    parser.add_argument("--megabytes", type=int, default=1024, help="MiB sent in the throughput test")
    parser.add_argument("--connects", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=50, help="connections of the concurrent tests")
    parser.add_argument("--seconds", type=float, default=3.0, help="measured time of the concurrent echo")
    parser.add_argument("--warmup-seconds", type=float, default=0.5)
    parser.add_argument(
        "--bulk-megabytes", type=int, default=1024, help="MiB sent in all by the concurrent bulk test"
    )
    parser.add_argument("--only", choices=("single", "concurrent"), help="run one half only")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure every path this many times, taking turns, and print the medians (a busy machine)",
    )
    args = parser.parse_args()
    if args.connections < 1:
        parser.error("--connections must be at least 1")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    single, concurrent = args.only in (None, "single"), args.only in (None, "concurrent")
    toxiproxy = official_server()
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {args.round_trips} round trips, "
        f"{args.megabytes} MiB, {args.connects} connects; {args.connections} connections: "
        f"{args.seconds} s of echo, {args.bulk_megabytes} MiB of bulk; {args.rounds} round(s); "
        "load average " + " ".join(f"{load:.1f}" for load in os.getloadavg())
    )
    servers = [("ours", [sys.executable, "-m", "harness.faults.proxy", "--port"])]
    if toxiproxy is not None:
        servers.append(("official", [toxiproxy, "-port"]))
    with backend() as (echo_port, sink_port), contextlib.ExitStack() as stack:
        routes = [Route(name="direct", echo=echo_port, sink=sink_port)]
        for name, command in servers:  # all started up front: an idle proxy costs no CPU
            api_port = _free_port()
            url, pid = stack.enter_context(proxy_process([*command, str(api_port)], api_port))
            echo, sink = create_proxies(url, echo_port, sink_port)
            routes.append(Route(name=name, echo=echo, sink=sink, pid=pid))
        singles = run_probes(single_probes(args), routes, args.rounds) if single else {}
        concurrents = run_probes(concurrent_probes(args), routes, args.rounds) if concurrent else {}
    if single:
        figures = {name: Figures(**fields) for name, fields in singles.items()}
        for name, title in (("ours", "chaos-audit proxy"), ("official", "official toxiproxy-server")):
            if name in figures:
                print_table(f"{title}, one connection, no toxics", figures["direct"], figures[name])
        if "official" in figures:
            print_single_vs_official(figures["direct"], figures["ours"], figures["official"])
    if concurrent:
        columns = {name: Concurrent(**fields) for name, fields in concurrents.items()}
        print_concurrent(args.connections, columns)
    if toxiproxy is None:
        print("\n(toxiproxy-server not found on PATH or in /usr/local/bin: not measured)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
