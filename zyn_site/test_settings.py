"""Settings for the test suite: the real settings with a throwaway secret key."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-key-not-secret")

from zyn_site.settings import *  # noqa: E402, F403
