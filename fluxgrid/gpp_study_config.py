"""Deprecated: the GPP study's config moved to :mod:`fluxgrid.studies.gpp.config`."""

from ._deprecation import moved
from .studies.gpp.config import __all__ as moved_names

__getattr__, __dir__ = moved(__name__, dict.fromkeys(moved_names, "fluxgrid.studies.gpp.config"))
