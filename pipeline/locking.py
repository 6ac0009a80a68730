"""One writer per home folder: a second run is refused at once, naming the holder."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipeline.errors import LockedError


@contextmanager
def home_lock(home: Path) -> Iterator[None]:
    """Hold ``home/caseflow.lock`` for the duration; the OS releases it if the process dies."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / "caseflow.lock"
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise LockedError(
                f"{path} is held by {holder}: another caseflow command is using this home folder; "
                "wait for it to finish (nothing was changed)"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)
