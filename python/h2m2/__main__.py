"""``python -m h2m2``: the same as the ``h2m2`` command."""

from __future__ import annotations

from h2m2.cli import main

__all__: list[str] = []

if __name__ == "__main__":
    raise SystemExit(main())
