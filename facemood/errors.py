"""Domain errors raised by the core, one class per kind of failure.

Each boundary translates them: the CLI prints one ``Error: ...`` line, a Lambda logs and
returns (or re-raises for a retry), the page shows a message. Code raises a subclass,
never :class:`FaceMoodError` itself.
"""


class FaceMoodError(Exception):
    """Base class of every error the core raises on purpose."""


class ConfigError(FaceMoodError):
    """A configuration file or override is invalid (unknown key, wrong type, bad value)."""


class InvalidDataset(FaceMoodError):
    """A file cannot be read as FER2013 data at all (no header, binary, empty...)."""


class NoValidRows(InvalidDataset):
    """The file has the right shape but every row was rejected."""


class StorageError(FaceMoodError):
    """An object or bucket is missing or cannot be read or written."""


class NotFound(StorageError):
    """The object, file or bucket does not exist."""


class BundleIntegrityError(FaceMoodError):
    """A model bundle is incomplete, tampered with or of an unsupported format."""


class ModelInputError(FaceMoodError):
    """Faces handed to a model are not (n,48,48) uint8 arrays."""


class TrainingError(FaceMoodError):
    """Training cannot proceed with the given data or configuration."""


class TimeBudgetReached(FaceMoodError):
    """A training run stopped at its time budget (``facemood train --stop-after``) after
    checkpointing: the same command continues it. Not a failure: ``facemood train`` exits 75."""


class InvalidImage(FaceMoodError):
    """An uploaded photo cannot be decoded or breaks a size limit; ``kind`` says which, so the
    page can say it in the student's language (the message is for logs and the CLI)."""

    KINDS = ("empty", "too_big", "too_many_pixels", "not_a_photo", "damaged", "unreadable", "unreadable_face")

    def __init__(self, message: str, kind: str = "unreadable") -> None:
        super().__init__(message)
        self.kind = kind if kind in self.KINDS else "unreadable"


class FaceStepError(FaceMoodError):
    """The face step (the face Lambda) failed or did not answer."""


class LocalStackError(FaceMoodError):
    """The local stack or the app it serves cannot start, stop or be found."""


class DeploymentError(FaceMoodError):
    """The deployed AWS stack is missing, incomplete or refused a request."""
