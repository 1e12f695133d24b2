"""Deprecated: the guided workflow's config moved to :mod:`fluxgrid.studies.guided.config`."""

from ._deprecation import moved
from .studies.guided.config import __all__ as moved_names

__getattr__, __dir__ = moved(__name__, dict.fromkeys(moved_names, "fluxgrid.studies.guided.config"))
