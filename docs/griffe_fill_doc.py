"""Griffe extension for the API reference: docstrings completed at import time.

Some functions share parameter entries: their source docstrings hold ``%(name)s``
placeholders that :func:`fluxgrid._docstring.fill_doc` fills when the module is imported.
Griffe reads the source, so for exactly those objects this extension imports the object and
takes its filled ``__doc__``. Nothing else is imported.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import griffe


def _runtime_doc(obj: griffe.Object) -> str | None:
    module = importlib.import_module(obj.module.path)
    target: Any = module
    for part in obj.path.removeprefix(obj.module.path + ".").split("."):
        target = getattr(target, part)
    return inspect.getdoc(target)


class FilledDocstrings(griffe.Extension):
    """Replace placeholder docstrings by the filled ones of the imported objects."""

    def _fill(self, obj: griffe.Object) -> None:
        if obj.docstring is None or "%(" not in obj.docstring.value:
            return
        doc = _runtime_doc(obj)
        if doc and "%(" not in doc:
            obj.docstring.value = doc

    def on_function(self, *, func: griffe.Function, **kwargs: Any) -> None:
        """Fill a function's (or method's) docstring."""
        self._fill(func)

    def on_class(self, *, cls: griffe.Class, **kwargs: Any) -> None:
        """Fill a class's docstring."""
        self._fill(cls)
