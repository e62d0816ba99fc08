"""The proxy tests' real front door, for the follower's test on a live nginx log."""

from tests.cutover.proxy.conftest import door_kind, echo_backends, front_door, make_front_door  # noqa: F401
