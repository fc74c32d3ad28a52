"""The fault proxy: a Toxiproxy-compatible server and a typed client for it.

The server (``chaos-audit proxy``, :class:`~harness.faults.proxy.server.ProxyServer`) implements
the HTTP API and network behaviour of Toxiproxy 2.12 at the "semantics" level of
``shared/toxiproxy-spec.md``, answers the inputs that crash Toxiproxy with a 400, and adds an
HTTP-level ``http_error`` toxic. The client (:mod:`~harness.faults.proxy.client`) speaks only the
documented API, so it drives the official Toxiproxy as well.

Module map: ``api`` (routes) · ``collection``/``model`` (proxies and toxics) · ``toxics`` (types,
attributes, validation) · ``stages``/``httpfault`` (toxic behaviour) · ``pipe``/``link``/
``listener`` (data path) · ``server``/``cli`` (process) · ``client``.
Nothing is imported here, so ``import harness.faults.proxy.client`` stays light.
"""
