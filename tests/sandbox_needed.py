"""Skipping the tests that run submissions in the grader's sandbox where it cannot start.

``needs_sandbox`` is a ``skipif`` marker whose reason says why (not Linux, bubblewrap missing, no
namespaces in this container); ``.ci/run`` installs bubblewrap, so CI runs these tests.
"""

from __future__ import annotations

import sys

import pytest

from scratchnet.check import sandbox as box

_WHY = "the sandbox is Linux's namespaces" if sys.platform != "linux" else box.works()
needs_sandbox = pytest.mark.skipif(_WHY is not None, reason=str(_WHY))
