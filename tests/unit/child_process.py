"""Helpers for tests that start a child process and interrupt it (imported by the test modules of
this directory, which pytest puts on sys.path)."""

from __future__ import annotations

import signal


def restore_sigint() -> None:
    """In the child before exec: SIGINT back to its default, so Python installs its handler. A
    test run started in the background by a non-interactive shell inherits SIGINT ignored, and a
    Python started with it ignored keeps ignoring it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
