"""The mock provider: a stand-in for a paid external API, scripted and observed by the harness.

``docs/contracts.md`` section 1 is its specification. The server side is ``app`` (routes over
``state``: ``ledger``, ``rules``, ``barriers``, config), run by ``server``/``cli``; the harness
side is ``client``. Nothing is imported here, so ``chaos-audit --help`` does not load uvicorn.
"""
