"""Exception tree of fluxgrid.

Every error names what is wrong (the file, column, site, parameter) and what is expected
instead, so that a user knows what to change without reading the source.

Examples
--------
>>> from fluxgrid.errors import ColumnError
>>> raise ColumnError("TIMESTAMP", file="FLX_X.csv", expected="YYYYMM integers")
Traceback (most recent call last):
...
fluxgrid.errors.ColumnError: FLX_X.csv: column 'TIMESTAMP': expected YYYYMM integers
"""

from __future__ import annotations

from os import PathLike

__all__ = [
    "ColumnError",
    "ConfigError",
    "DataNotFoundError",
    "FileFormatError",
    "FluxgridError",
    "FluxgridWarning",
    "GridError",
    "MetadataError",
    "ModelError",
    "OptionalDependencyError",
    "OutputExistsError",
    "OutputLockedError",
    "OutputPathError",
    "RemoteSensingError",
    "SplitError",
    "TimestampError",
    "UnitError",
    "WindowError",
]


class FluxgridError(Exception):
    """Base class of every error raised on purpose by fluxgrid."""


class FluxgridWarning(UserWarning):
    """Something was dropped, clipped or replaced on request, or a result may be empty.

    Raised as a warning (never silently): the message names the file, variable or period
    concerned and what was done.
    """


def _where(file: str | PathLike | None) -> str:
    return f"{file}: " if file is not None else ""


class FileFormatError(FluxgridError):
    """A file cannot be read as the format it claims to be (empty, corrupt, wrong layout)."""

    def __init__(self, file: str | PathLike | None, problem: str, expected: str | None = None):
        self.file = file
        msg = f"{_where(file)}{problem}"
        if expected:
            msg += f"; expected {expected}"
        super().__init__(msg)


class ColumnError(FluxgridError):
    """A required column is missing, unknown or holds values of the wrong form."""

    def __init__(
        self,
        column: str,
        *,
        file: str | PathLike | None = None,
        expected: str,
        found: str | None = None,
    ):
        self.file, self.column = file, column
        msg = f"{_where(file)}column {column!r}: expected {expected}"
        if found:
            msg += f", found {found}"
        super().__init__(msg)


class TimestampError(FluxgridError):
    """Timestamps are missing, non-monotonic, duplicated or of mixed resolution."""


class MetadataError(FluxgridError):
    """Site metadata (coordinates, vegetation type, UTC offset) is missing or inconsistent."""


class UnitError(FluxgridError):
    """A unit string is unknown or cannot be converted to the canonical unit."""


class ConfigError(FluxgridError):
    """A configuration is invalid: unknown key, wrong type or out-of-range value."""


class DataNotFoundError(FluxgridError):
    """A path, variable or site that was asked for does not exist."""


class OutputExistsError(FluxgridError):
    """An output path exists and overwriting was not asked for."""


class OutputPathError(FluxgridError):
    """An output cannot be written there: a read-only folder, or a file where a folder must be."""


class OutputLockedError(OutputPathError):
    """Another process is writing the same output (it holds the lock file beside it)."""


class SplitError(FluxgridError):
    """A train/validation/test split is impossible or leaks test data."""


class WindowError(FluxgridError):
    """Windows cannot be built (look-back longer than the record, all targets masked, ...)."""


class ModelError(FluxgridError):
    """A model name is unknown, or a model is used with inputs it was not trained on."""


class GridError(FluxgridError):
    """A gridded data set has wrong coordinates, units, or cannot supply what is asked."""


class RemoteSensingError(FluxgridError):
    """A remote-sensing search or load failed (no items, missing bands, site off the tiles)."""


class OptionalDependencyError(FluxgridError, ImportError):
    """An optional dependency is not installed; the message gives the install command."""
