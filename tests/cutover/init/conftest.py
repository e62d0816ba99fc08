from __future__ import annotations

import pytest

SAMPLE_URLCONF = "tests.cutover.init.urls_sample"


@pytest.fixture
def sample_urls(settings):
    """The sample URLconf in place of the demo's (Django clears its URL caches on the change)."""
    settings.ROOT_URLCONF = SAMPLE_URLCONF
    return SAMPLE_URLCONF
