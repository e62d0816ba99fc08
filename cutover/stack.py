"""The servers that make up the stack, and how each is started."""

from __future__ import annotations

from dataclasses import dataclass

from .runner import Service, python_module


@dataclass(frozen=True)
class StackConfig:
    host: str = "127.0.0.1"
    legacy_port: int = 8001
    legacy_workers: int = 2
    legacy_threads: int = 4


def legacy_service(config: StackConfig, env: dict[str, str]) -> Service:
    argv = python_module(
        "gunicorn",
        "legacy_django.wsgi:application",
        "--bind", f"{config.host}:{config.legacy_port}",
        "--workers", str(config.legacy_workers),
        "--worker-class", "gthread",
        "--threads", str(config.legacy_threads),
        "--access-logfile", "-",
        "--graceful-timeout", "10",
    )  # fmt: skip
    return Service("legacy", argv, env, f"http://{config.host}:{config.legacy_port}/api/users/")


def services(config: StackConfig, env: dict[str, str]) -> list[Service]:
    return [legacy_service(config, env)]
