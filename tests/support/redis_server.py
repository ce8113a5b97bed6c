"""Kept for the imports of older tests: the servers live in `tests.support.services`."""

from tests.support.services import free_port, running_redis

__all__ = ["free_port", "running_redis"]
