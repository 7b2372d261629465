"""Domain errors raised by the core; each boundary (CLI, Lambda, page) translates them."""


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


class BundleIntegrityError(FaceMoodError):
    """A model bundle is incomplete, tampered with or of an unsupported format."""


class TrainingError(FaceMoodError):
    """Training cannot proceed with the given data or configuration."""


class InvalidImage(FaceMoodError):
    """An uploaded photo cannot be decoded or breaks a size limit."""


class NoFaceFound(FaceMoodError):
    """A photo was decoded but no face was detected in it."""
