"""AWS clients, created by a function (never at import time) so that tests can mock first.

boto3 already honours the standard environment: credentials, ``AWS_REGION`` / ``AWS_DEFAULT_REGION``
and ``AWS_ENDPOINT_URL`` (so every command works against a moto server).
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

# Adaptive retries: exponential backoff with jitter on throttling and transient errors, plus
# botocore's client-side rate adaptation. Our own limiter (ratelimit.py) keeps us under budget.
DEFAULT_MAX_ATTEMPTS = 10


def client_config(max_attempts: int = DEFAULT_MAX_ATTEMPTS, max_pool_connections: int = 32) -> Config:
    return Config(
        retries={"mode": "adaptive", "max_attempts": max_attempts},
        max_pool_connections=max_pool_connections,
        connect_timeout=10,
        read_timeout=60,
    )


def make_client(service: str, region: str | None = None, session: boto3.Session | None = None,
                **config: Any) -> Any:
    session = session or boto3.Session()
    return session.client(service, region_name=region, config=client_config(**config))
