"""Stack backends: local processes, containers, or an already-running external stack."""
