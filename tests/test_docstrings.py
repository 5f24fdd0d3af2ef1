"""Every public name has a docstring that help() shows: what it does and each argument.

The public names are those of ``__all__`` in ``ipay_links``, ``ipay_links.testing`` and
``ipay_links.db``.
Each class and function needs a docstring of its own. Each parameter of a function,
of a class's ``__init__`` (named in the class docstring) and of a public method,
classmethod or property defined in the class itself (named in the method's docstring or
the class's) must be named there, as a whole word. Exceptions, enums, the TypedDict
``WalkOptions`` and the Protocol ``Clock`` are documented in other forms: their
constructor's parameters are not checked, their methods are.

One test lists every gap at once, so a failure is a to-do list.
"""

from __future__ import annotations

import enum
import inspect
import re
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import ipay_links
import ipay_links.db
import ipay_links.testing

MODULES = (ipay_links, ipay_links.testing, ipay_links.db)
# Classes whose constructor is documented in another form than a list of arguments.
OTHER_FORMS = {"WalkOptions", "Clock"}


def parameters(function: Callable[..., Any]) -> list[str]:
    """The parameter names a docstring must mention: all but self, cls and private ones."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # a builtin without a signature: nothing to name
        return []
    return [
        name
        for name in signature.parameters
        if name not in ("self", "cls") and not name.startswith("_")
    ]


def names(doc: str, name: str) -> bool:
    """Whether ``doc`` mentions ``name`` as a whole word (``url`` is not in ``qr_url``)."""
    return re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", doc) is not None


def missing_parameters(label: str, function: Callable[..., Any], *docs: str) -> Iterator[str]:
    for name in parameters(function):
        if not any(names(doc, name) for doc in docs):
            yield f"{label}: parameter {name!r} is not named in its docstring"


def public_methods(cls: type) -> Iterator[tuple[str, Callable[..., Any]]]:
    """The public methods, classmethods, staticmethods and properties ``cls`` itself defines."""
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(value, classmethod | staticmethod):
            yield name, value.__func__
        elif isinstance(value, property):
            if value.fget is not None:
                yield name, value.fget
        elif inspect.isfunction(value):
            yield name, value


def documents_its_constructor(cls: type) -> bool:
    return not (issubclass(cls, BaseException | enum.Enum) or cls.__name__ in OTHER_FORMS)


def class_gaps(label: str, cls: type) -> Iterator[str]:
    # A class's own: inspect.getdoc would fall back to a base class's docstring.
    own = cls.__doc__ if "__doc__" in vars(cls) else None
    if not own or not own.strip():
        yield f"{label}: no docstring"
    class_doc = inspect.getdoc(cls) or ""
    if own and documents_its_constructor(cls):
        yield from missing_parameters(label, cls, class_doc)
    for name, method in public_methods(cls):
        method_doc = inspect.getdoc(method) or ""
        if not method_doc:
            yield f"{label}.{name}: no docstring"
            continue
        yield from missing_parameters(f"{label}.{name}", method, method_doc, class_doc)


def gaps(modules: tuple[ModuleType, ...] = MODULES) -> list[str]:
    found: list[str] = []
    for module in modules:
        for name in module.__all__:
            obj = getattr(module, name)
            label = f"{module.__name__}.{name}"
            if inspect.isclass(obj):
                found.extend(class_gaps(label, obj))
            elif inspect.isfunction(obj):
                doc = inspect.getdoc(obj) or ""
                if not doc:
                    found.append(f"{label}: no docstring")
                else:
                    found.extend(missing_parameters(label, obj, doc))
    return found


def test_every_public_name_documents_itself_and_its_arguments() -> None:
    found = gaps()
    assert not found, f"{len(found)} documentation gap(s):\n" + "\n".join(found)


def test_the_check_sees_a_gap() -> None:
    class Documented:
        """Holds ``kept``."""

        def __init__(self, kept: int, forgotten: int, _private: int = 0) -> None: ...

        def undocumented(self) -> None: ...

        @classmethod
        def build(cls, qr_url: str) -> None:
            """A link from ``url``."""

    assert list(class_gaps("Documented", Documented)) == [
        "Documented: parameter 'forgotten' is not named in its docstring",
        "Documented.undocumented: no docstring",
        "Documented.build: parameter 'qr_url' is not named in its docstring",
    ]
