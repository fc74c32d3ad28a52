"""A run's scratch folder: where its services and fault handles write their logs.

Removed when the run closes (logs worth keeping are attached to the report while the scenario
still runs), and by the next run's reaper when this one was killed before its ``finally`` blocks:
a folder per stack start under the temp dir otherwise piles up with every run.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from harness.process.pidfiles import PidFiles


class ScratchDir:
    """A temp dir this process owns (``path``), or a caller's folder, which it never removes."""

    def __init__(self, prefix: str, *, path: Path | None = None, keep: bool = False) -> None:
        self.owned = path is None and not keep
        self.path = path or Path(tempfile.mkdtemp(prefix=prefix))
        self._pidfiles = PidFiles.default()
        self._key = self._pidfiles.record(
            prefix.strip("-") or "scratch", cleanup_paths=[self.path] if self.owned else []
        )

    def close(self) -> None:
        """Remove the folder if this process made it; idempotent."""
        if self.owned:
            shutil.rmtree(self.path, ignore_errors=True)
        self._pidfiles.forget(self._key)
