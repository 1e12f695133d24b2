"""Deprecated: the model registry moved to :mod:`fluxgrid.models.registry`.

The reader registry that lived here was removed (nothing looked readers up by name).
"""

from ._deprecation import moved

__getattr__, __dir__ = moved(
    __name__,
    {
        name: "fluxgrid.models.registry"
        for name in ("MODELS", "Registry", "get_model", "register_model")
    },
)
