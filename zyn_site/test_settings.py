"""Settings for the test suite: the real settings with a throwaway secret key."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-key-not-secret")

from zyn_site.settings import *  # noqa: E402, F403

# The suite creates a user in most tests; Django's default PBKDF2 (1,000,000 iterations, ~0.6 s each on
# two cores) was a third of the whole run. Tests never depend on the hasher (daphne processes started by
# tests use the real settings but are only given session cookies), so use Django's fast one for tests.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
