"""What the main window asks of a view (a tab): the :class:`View` lifecycle hooks.

A view is a ``QWidget`` built as ``Class(context: AppContext, parent)`` when a
project opens (see :mod:`gui.main_window`). It declares the hooks by
inheriting ``View`` next to its widget class and overriding the ones it
needs; the others keep their do-nothing defaults::

    class MapView(QWidget, View):
        def is_ready(self) -> bool: ...

``View`` is a plain mixin, not a ``typing.Protocol`` or an ``abc.ABC``: their
metaclasses cannot be combined with Qt's. The main window calls the hooks
directly; a view class that does not declare ``View`` yet gets it mixed in by
:func:`as_view_class` when it is registered, so its own methods of these
names still win and the missing ones fall back to the defaults.
"""

from __future__ import annotations


class View:
    """Lifecycle hooks of a main-window tab, each with a do-nothing default."""

    def prepare_screenshot(self) -> None:
        """Called once before a screenshot waits for :meth:`is_ready`.

        E.g. start computing a layout that is otherwise computed on demand.
        """

    def is_ready(self) -> bool:
        """True once the view shows what a screenshot should capture."""
        return True

    def shutdown(self) -> None:
        """The project is about to close: cancel your jobs and stop listening."""


def as_view_class(cls: type) -> type:
    """``cls`` itself if it declares :class:`View`, else a subclass of ``cls`` that adds it."""
    if issubclass(cls, View):
        return cls
    return type(cls.__name__, (cls, View), {"__module__": cls.__module__,
                                            "__qualname__": cls.__qualname__,
                                            "__doc__": cls.__doc__})
