"""The demo's Django settings with a fast password hasher first, for the shadow test that sends 200 writes
through the front door: what it checks is which rows exist, not how passwords are hashed (Django's
PBKDF2 takes about half a second per hash on the test machine). Hashes already stored still verify."""

from legacy_django.settings import *  # noqa: F403
from legacy_django.settings import PASSWORD_HASHERS as _DEMO_HASHERS

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *_DEMO_HASHERS]
