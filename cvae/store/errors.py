"""Every error the product raises on purpose: classes with fields, so callers branch on types, not on text."""

from __future__ import annotations

from typing import Any, Sequence


class CvaeError(Exception):
    """Base of the product's own errors; str() is one line for the user (a few for 'data not found')."""


class ConfigError(CvaeError, ValueError):
    """A configuration value is invalid: `field`, the value `got` and what is `allowed`."""

    def __init__(self, field: str, got: Any = None, allowed: str = "", message: str | None = None):
        self.field, self.got, self.allowed = field, got, allowed
        super().__init__(message or f"{field}: got {got!r}; allowed: {allowed}")


class RunError(CvaeError, ValueError):
    """Run `run` is missing, unreadable or refused."""

    def __init__(self, message: str, run: str | None = None):
        self.run = run
        super().__init__(message)


class RunNotFound(RunError):
    """The run does not exist."""


class RunExists(RunError):
    """A new run was asked for under a name that already holds a trained run."""


class AlreadyTraining(RunError):
    """The run's trainer is alive (or starting)."""


class RunReadOnly(RunError):
    """The run is read-only (the shipped `tutorial`): explore it, or copy it to train further; `reason` says why."""

    def __init__(self, message: str, run: str | None = None, reason: str = ""):
        self.reason = reason
        super().__init__(message, run=run)


class NotTraining(RunError):
    """Stop was asked for a run that has no trainer."""


class LaunchError(RunError):
    """A start or resume from the app was refused or could not happen."""


class ServerBusy(LaunchError):
    """The concurrency cap is reached: `active` runs are training, at most `cap` at once."""

    def __init__(self, message: str, active: Sequence[str] = (), cap: int = 1):
        self.active, self.cap = list(active), cap
        super().__init__(message)


class DataError(CvaeError, ValueError):
    """A dataset file is missing, malformed or refused; `path` names it when known."""

    def __init__(self, message: str, path: str | None = None):
        self.path = path
        super().__init__(message)


class DataNotFound(DataError):
    """No copy of `dataset` anywhere; `looked` lists the places tried (the message says how to provide one)."""

    def __init__(self, message: str, dataset: str, looked: Sequence[str] = ()):
        self.dataset, self.looked = dataset, list(looked)
        super().__init__(message)


class TrainingError(CvaeError, RuntimeError):
    """Training cannot start or continue; the message is one line for the user."""


class ClassError(CvaeError, ValueError):
    """A live-classroom request was refused; `code` names the class when known. str() is one line for the page."""

    def __init__(self, message: str, code: str | None = None):
        self.code = code
        super().__init__(message)


class ClassNotFound(ClassError):
    """No open class has this join code (never created, ended, or expired)."""


class ClassLocked(ClassError):
    """The teacher locked the class: no new submissions."""


class ClassEnded(ClassError):
    """The class has ended (or expired); its data is gone."""


class ClassFull(ClassError):
    """The class reached its cap: `cap` students or submissions (`what`)."""

    def __init__(self, message: str, code: str | None = None, what: str = "submissions", cap: int = 0):
        self.what, self.cap = what, cap
        super().__init__(message, code)


class RateLimited(ClassError):
    """Too many requests: try again after `retry_after` seconds."""

    def __init__(self, message: str, code: str | None = None, retry_after: float = 0.0):
        self.retry_after = retry_after
        super().__init__(message, code)


class NotTeacher(ClassError):
    """A teacher's action without the class's teacher key."""


class BadSubmission(ClassError):
    """A submission or guess whose fields are malformed: `field` names the first bad one."""

    def __init__(self, message: str, code: str | None = None, field: str = ""):
        self.field = field
        super().__init__(message, code)
class OwnDataError(DataError):
    """Your own images (a folder, an .npz) cannot be used as a dataset; `path` names the folder or file."""


class DataChanged(OwnDataError):
    """Your own data at `path` is not the data a run recorded: fingerprint `recorded`, now `now`."""

    def __init__(self, message: str, path: str, recorded: str, now: str):
        self.recorded, self.now = recorded, now
        super().__init__(message, path)


class EmptyFolder(OwnDataError):
    """No readable image in `path`: `skipped` files were skipped, the first few named in `examples`."""

    def __init__(self, message: str, path: str, skipped: int = 0, examples: Sequence[str] = ()):
        self.skipped, self.examples = skipped, list(examples)
        super().__init__(message, path)


class TooFewClasses(OwnDataError):
    """Labels were asked for but `path` holds fewer than two class folders (`classes`)."""

    def __init__(self, message: str, path: str, classes: Sequence[str] = ()):
        self.classes = list(classes)
        super().__init__(message, path)


class ImagesTooSmall(OwnDataError):
    """Every image in `path` (`count` of them) is smaller than `minimum` pixels on a side."""

    def __init__(self, message: str, path: str, minimum: int, count: int = 0):
        self.minimum, self.count = minimum, count
        super().__init__(message, path)


class ZipRefused(DataError):
    """An uploaded zip is refused before anything is extracted: `entry` (when one is to blame) and `reason`."""

    def __init__(self, message: str, path: str | None = None, entry: str | None = None, reason: str = ""):
        self.entry, self.reason = entry, reason
        super().__init__(message, path)
