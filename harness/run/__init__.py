"""``chaos-audit run``: validate, run the scenarios in a pytest child, write the report, gate.

``plan`` validates the request before anything starts, ``child`` runs and stops pytest,
``console`` prints progress, ``command`` wires them to the CLI (``configure`` / ``main``).
"""
