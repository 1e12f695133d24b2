r"""Docstring fragments shared by a family of functions, written once and filled in.

A family of public functions with the same parameters (``add_s1``/``add_s2``/``add_lst``,
the scikit-learn baselines) documents each shared parameter once, in a dict of numpydoc
entries. Each function's docstring names an entry by a line holding only ``%(name)s``;
:func:`fill_doc` replaces that line with the entry, indented like the placeholder, when the
function is defined. ``help()`` and the rendered docs therefore show the full docstring, and
the signature stays the function's own. (The same idea as matplotlib's ``_docstring.interpd``;
a literal ``%`` in a filled docstring is written ``%%``.)

Examples
--------
>>> fragments = {"period": "start, end\n    Search period (default: the cube's)."}
>>> @fill_doc(fragments)
... def search(start=None, end=None):
...     '''Search.
...
...     Parameters
...     ----------
...     %(period)s
...     '''
>>> print(search.__doc__.strip().splitlines()[-2].strip())
start, end
>>> print(search.__doc__.strip().splitlines()[-1].strip())
Search period (default: the cube's).
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Mapping
from typing import TypeVar

__all__ = ["fill_doc"]

T = TypeVar("T")

_PLACEHOLDER = re.compile(r"^(?P<indent>[ \t]*)%\((?P<name>\w+)\)s[ \t]*$", re.MULTILINE)


def fill_doc(fragments: Mapping[str, str]) -> Callable[[T], T]:
    """Decorator filling ``%(name)s`` lines of a docstring from ``fragments``.

    Parameters
    ----------
    fragments
        Name -> numpydoc text (first line unindented, continuation lines indented by four
        spaces relative to it); each is re-indented to its placeholder's indentation.

    Returns
    -------
    callable
        A decorator returning the function or class itself with ``__doc__`` filled (left
        alone where docstrings are stripped, ``python -OO``).

    Raises
    ------
    KeyError
        A placeholder names no fragment (a typo shows at import, not in the docs).
    """

    def indented(match: re.Match) -> str:
        text = textwrap.dedent(fragments[match["name"]]).strip("\n")
        return textwrap.indent(text, match["indent"])

    def decorate(obj: T) -> T:
        if obj.__doc__:
            obj.__doc__ = _PLACEHOLDER.sub(indented, obj.__doc__).replace("%%", "%")
        return obj

    return decorate
