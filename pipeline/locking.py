"""One writer per home folder: a second run is refused at once, naming the holder.

The lock is an OS lock (``flock``) on ``HOME/caseflow.lock``: the kernel releases it when the
holder ends, however it ends (a crash, SIGKILL), so a lock is never left stale. The file's text
says who holds it (pid, command, since when), for the message a second process prints.
"""

from __future__ import annotations

import fcntl
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import TextIO

from pipeline.errors import CaseflowError, LockedError
from pipeline.masking import scrub_text

LOCK_FILE = "caseflow.lock"


def _holder_text() -> str:
    """``pid 4242 (caseflow run --date 2026-11-23 ...) since 2026-11-23 02:00:01``."""
    program = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    command = " ".join([program, *sys.argv[1:]])[:200]
    since = datetime.now().isoformat(sep=" ", timespec="seconds")
    return f"pid {os.getpid()} ({scrub_text(command)}) since {since}"


@contextmanager
def home_lock(home: Path) -> Iterator[None]:
    """Hold ``home/caseflow.lock`` for the duration; the OS releases it if the process dies."""
    path = home / LOCK_FILE
    try:
        home.mkdir(parents=True, exist_ok=True)
        handle = path.open("a+", encoding="utf-8")
    except OSError as exc:
        raise CaseflowError(
            f"cannot use the home folder {home}: {exc.strerror or type(exc).__name__} "
            f"(creating {path}); nothing was changed"
        ) from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise LockedError(
                f"{path} is held by {holder}: another caseflow command is using this home folder; "
                "wait for it to finish (nothing was changed)"
            ) from None
        _say_who(handle)
        try:
            yield
        finally:
            with suppress(OSError):  # the text is only advice; the OS lock is what counts
                handle.seek(0)
                handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


def _say_who(handle: TextIO) -> None:
    """Write the holder's text; a full disk must not stop the night for want of a few bytes."""
    with suppress(OSError):
        handle.seek(0)
        handle.truncate()
        handle.write(_holder_text())
        handle.flush()
