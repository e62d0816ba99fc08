"""Django settings for the live servers of the cross tests: the legacy's own, with cheap password hashes.

A sign-up hashes its password (PBKDF2, a million iterations: about a second of CPU here); racing rounds
of them would take minutes. The cheap hasher keeps Django's algorithm name and format, so both apps still
read each other's hashes, and the window between validation and insert, which the race needs, stays open.
"""

from __future__ import annotations

from django.contrib.auth.hashers import PBKDF2PasswordHasher

from legacy_django.settings import *  # noqa: F403
from legacy_django.settings import PASSWORD_HASHERS as LEGACY_HASHERS

QUICK_ITERATIONS = 50_000  # the port's live app uses the same count (tests/cross/live_modern.py)


class QuickPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    iterations = QUICK_ITERATIONS


PASSWORD_HASHERS = ["tests.cross.live_settings.QuickPBKDF2PasswordHasher", *LEGACY_HASHERS]
