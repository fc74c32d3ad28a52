"""The fault proxy: a Toxiproxy-compatible server and a typed client for it.

The server (``chaos-audit proxy``, :class:`~harness.faults.proxy.server.ProxyServer`) implements
the HTTP API and network behaviour of Toxiproxy 2.12 (tests/integration/proxy holds the
conformance tests), answers the inputs that crash Toxiproxy with a 400, and adds an
HTTP-level ``http_error`` toxic. The client (:mod:`~harness.faults.proxy.client`) speaks only the
documented API, so it drives the official Toxiproxy as well.

Data path: two paths, because the two jobs pull in opposite directions.

* **Connections without toxics** (the common case: a proxy sits on every link of the stack and a
  load test puts many connections on it) are relayed by the *data loop* (:mod:`.loop`,
  :mod:`.looplink`): one thread multiplexing all of them with ``epoll``. A thread per direction
  instead makes 50 busy connections 100 threads taking turns at the GIL, one wake-up and hand-off
  per message: the proxy then moved half the official server's small messages. The loop handles
  a batch of ready sockets per wake-up for about a third of that CPU per message, and one loop
  never waits for the GIL (two were measured: they took turns and stalled each other's links).
* **Connections with toxics** run each direction's chain on threads (:mod:`.pipe`,
  :mod:`.link`), because toxics are written as "wait until this deadline, then pass this chunk
  on", which a thread expresses directly and exactly (Toxiproxy's goroutine-per-stage model).
  A connection that gets its first toxic while live is handed from its loop to threads between
  two of its events, with the bytes the loop still held written first: nothing lost or
  reordered, and done before the API call that added the toxic returns. It stays on threads.

Module map: ``api`` (routes) · ``collection``/``model`` (proxies and toxics) · ``toxics`` (types,
attributes, validation) · ``stages``/``httpfault`` (toxic behaviour) · ``loop``/``looplink``
(data path without toxics) · ``pipe``/``link`` (data path with toxics) · ``listener`` (accept,
dial) · ``threads`` (thread pool) · ``server``/``cli`` (process) · ``client``.
Nothing is imported here, so ``import harness.faults.proxy.client`` stays light.
"""
