"""The package's own errors: each carries a message a person can act on.

The CLI turns a ``CaseflowError`` into that message and an exit code, never a traceback.
Messages must never quote a debtor's full id, card or phone number (see ``pipeline.masking``).
"""

from __future__ import annotations


class CaseflowError(Exception):
    """A failure the user can act on; ``exit_code`` follows CONTRACT.md (1 = night failed)."""

    exit_code = 1


class UsageError(CaseflowError):
    """Bad options or arguments (CONTRACT.md: exit 2)."""

    exit_code = 2


class InputFileError(CaseflowError):
    """A received file that cannot be read at all (encoding, missing required column, ...)."""

    def __init__(self, file: str, message: str) -> None:
        super().__init__(f"{file}: {message}")
        self.file = file


class PolicyError(CaseflowError):
    """A policy file with a bad key or value: the night does not start (exit 2, bad usage)."""

    exit_code = 2


class ModelError(CaseflowError):
    """No usable model, a tampered model file, or not enough history to train."""


class LockedError(CaseflowError):
    """Another caseflow process holds the home folder."""
