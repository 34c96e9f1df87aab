"""The core's exceptions, in one place. Each message says what is wrong and, where it can, what to do."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class TakedownError(Exception):
    """Base of every error the core raises on purpose."""


class ConfigurationError(TakedownError):
    """A setting is missing or malformed."""


class InvalidReport(TakedownError):
    """A reported URL (or a field reported with it) cannot be accepted.

    ``field`` names the offending field, so a batch import can say exactly which cell is wrong.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class CaseNotFound(TakedownError):
    """No case has that id."""

    def __init__(self, case_id: int) -> None:
        super().__init__(f"no case with id {case_id}; `takedown queue list` shows the cases")
        self.case_id = case_id


class InvalidTransition(TakedownError):
    """The case is in a state that does not allow what was asked."""


class ImportFileError(TakedownError):
    """The file as a whole cannot be read (not one row of it): nothing was imported."""


class ReaderFailed(TakedownError):
    """The process reading an import file ended without saying why (it could not start, was
    killed, or ran out of memory); the batches committed before it are in the store."""


class StoreError(TakedownError):
    """The store cannot be opened or is not at the schema version this code needs."""


class AccountError(TakedownError):
    """An account cannot be created or changed as asked (a name taken, a weak password)."""


class LoginRefused(TakedownError):
    """A login failed. The message is the same whatever the reason, so it tells an attacker
    nothing; ``reason`` says which for the log."""

    def __init__(self, reason: str) -> None:
        super().__init__("wrong name, password or code, or the account is locked; try again later")
        self.reason = reason


class ReportRefused(TakedownError):
    """Nothing of the report could be taken: every URL was refused (or a field was); nothing was
    kept. ``refused`` says which URLs, and why."""

    def __init__(self, message: str, refused: Sequence[RefusedUrl] = ()) -> None:
        super().__init__(message)
        self.refused = tuple(refused)


@dataclass(frozen=True, slots=True)
class RefusedUrl:
    index: int
    """Its place in the report (0 first)."""
    field: str
    message: str


def failure_line(driver_error: BaseException) -> str:
    """One line saying why the database failed under a command (gone away, disk full, corrupt),
    from the driver's own exception: what every face prints instead of a traceback."""
    lines = str(driver_error).strip().splitlines()
    reason = lines[0] if lines else type(driver_error).__name__
    return f"the store failed: {reason[:300]}"
