"""Skipping the tests that need the real datasets when the library's lookup does not find them.

``needs("fashion-mnist", "mnist")`` is a ``skipif`` marker whose reason names what is missing and
how to provide it; the lookup is the library's own (``--data-dir``, ``$SCRATCHNET_DATA``, the user
cache), so a user whose files sit in the cache runs these tests as CI does. Nothing is downloaded.
"""

from __future__ import annotations

import pytest

from scratchnet.data import get_spec, missing_files


def missing(*names: str) -> list[str]:
    """The titles of the datasets among ``names`` that are not (completely) on disk."""
    return [get_spec(name).title for name in names if missing_files(name)]


def needs(*names: str) -> pytest.MarkDecorator:
    absent = missing(*names)
    reason = (f"needs the real {', '.join(absent)} files: none found in $SCRATCHNET_DATA or "
              "~/.cache/scratchnet (set SCRATCHNET_DATA to a folder holding them)")  # fmt: skip
    return pytest.mark.skipif(bool(absent), reason=reason)
