"""pytest plugin: a GUI test fails when an exception escapes to Qt's event loop.

pytest-qt already records exceptions that reach ``sys.excepthook`` during a
test and fails it, unless ``qt_no_exception_capture`` (ini option or marker)
turns that off or the code under test replaces ``sys.excepthook``. This
plugin closes those gaps for every test that uses Qt:

* it fails a test that leaves ``sys.excepthook`` replaced (exceptions would
  go unseen after it);
* when pytest-qt's capture is off, it captures escaping exceptions itself;
* it fails a test during which :func:`gui.errors.report_unexpected` was
  called (a bug in a job, or an error the app only logged and announced),
  unless the test is marked ``unexpected_errors_expected``.

Registered from ``tests/conftest.py`` with
``pytest_plugins = ("helpers_excepthook",)``; test modules may also import
:func:`fail_on_escaped_exceptions` to use it on their own.
"""

from __future__ import annotations

import sys
import traceback

import pytest


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "unexpected_errors_expected: the test provokes gui.errors.report_unexpected")


@pytest.fixture(autouse=True)
def fail_on_escaped_exceptions(request):
    if "qtbot" not in request.fixturenames and "qapp" not in request.fixturenames:
        yield
        return
    from pytestqt.exceptions import _is_exception_capture_enabled

    from gui import errors

    # The log of reported errors goes to the test's folder, not the user's data folder.
    request.getfixturevalue("monkeypatch").setenv(
        "RETRIEVER_STUDIO_LOG", str(request.getfixturevalue("tmp_path") / "errors.log"))
    escaped: list[str] = []
    own_hook = None
    if not _is_exception_capture_enabled(request.node):
        def own_hook(kind, value, tb):
            escaped.append("".join(traceback.format_exception(kind, value, tb)))
        sys.excepthook = own_hook
    hook = sys.excepthook
    start = len(errors.reporter.reported)
    try:
        yield
    finally:
        replaced = sys.excepthook is not hook
        if own_hook is not None:
            sys.excepthook = sys.__excepthook__
        reported = errors.reporter.reported[start:]
        del errors.reporter.reported[start:]
    if replaced:
        pytest.fail("the test left sys.excepthook replaced: later exceptions would go unseen",
                    pytrace=False)
    if escaped:
        pytest.fail("exceptions escaped to the Qt event loop:\n" + "\n".join(escaped), pytrace=False)
    if reported and request.node.get_closest_marker("unexpected_errors_expected") is None:
        pytest.fail("unexpected errors were reported to the user:\n"
                    + "\n".join(f"{summary}\n{trace}" for summary, trace in reported), pytrace=False)
