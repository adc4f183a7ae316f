"""Small parts of the engine: keys and retention, the sub set, the rate limiter, redaction."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest

from backup_lambda.ratelimit import RateLimiter
from backup_lambda.redact import redact_client, redact_identity_provider
from backup_lambda.snapshot_format import (
    is_snapshot_key,
    manifest_key,
    parse_snapshot_key,
    retention_class,
    snapshot_key,
)
from backup_lambda.subs import SeenSubs
from tests.support.clock import FakeClock


def test_snapshot_key_follows_the_original_layout():
    when = datetime(2025, 3, 8, 1, 0, 12, tzinfo=timezone.utc)
    assert snapshot_key("", "prod-user-pool", when) == "2025/03/08/prod-user-pool_20250308_010012.json"
    assert snapshot_key("b/", "p", when) == "b/2025/03/08/p_20250308_010012.json"


def test_manifest_key_and_parsing_round_trip():
    key = "b/2025/03/08/prod_users_20250308_010012.json"
    assert manifest_key(key) == "b/2025/03/08/prod_users_20250308_010012.manifest.json"
    assert is_snapshot_key(key) and not is_snapshot_key(manifest_key(key))
    parsed = parse_snapshot_key(key)
    assert parsed == {"pool_name": "prod_users", "taken_at": datetime(2025, 3, 8, 1, 0, 12, tzinfo=timezone.utc)}
    with pytest.raises(ValueError):
        manifest_key(manifest_key(key))


@pytest.mark.parametrize(("day", "expected"), [(1, "monthly"), (2, "daily"), (7, "daily"), (8, "weekly")])
def test_retention_class(day, expected):
    assert retention_class(datetime(2026, 3, day, 12, tzinfo=timezone.utc)) == expected  # 2026-03-01: a Sunday


def test_seen_subs_is_exact_and_grows():
    seen = SeenSubs(capacity=4)
    subs = [str(uuid.UUID(int=i * 7919 + 1)) for i in range(5000)] + ["not-a-uuid", "another"]
    assert all(seen.add(s) for s in subs)
    assert not any(seen.add(s) for s in subs)
    assert len(seen) == len(subs)
    assert subs[123] in seen and str(uuid.uuid4()) not in seen


def test_rate_limiter_never_exceeds_its_rate():
    clock = FakeClock()
    limiter = RateLimiter(15, clock=clock, sleep=clock.sleep)
    times = []
    for _ in range(151):
        limiter.acquire()
        times.append(clock.now)
    assert times[-1] == pytest.approx(150 / 15, rel=0.01)
    for i in range(len(times) - 15):  # no window of one second holds more than 15 calls
        assert times[i + 15] - times[i] >= 1.0 - 1e-9


def test_rate_limiter_halves_on_throttle_and_recovers():
    clock = FakeClock()
    limiter = RateLimiter(16, clock=clock, sleep=clock.sleep)
    limiter.on_throttle()
    assert limiter.rate == 8 and limiter.throttles == 1
    for _ in range(10):
        limiter.on_success()
    assert limiter.rate == 16


def test_rate_limiter_refuses_a_zero_rate():
    with pytest.raises(ValueError, match="rate must be > 0"):
        RateLimiter(0)


def test_redaction_removes_secrets_and_keeps_the_rest():
    client = redact_client({"ClientId": "c", "ClientSecret": "s3cr3t", "ClientName": "x"})
    assert client == {"ClientId": "c", "ClientName": "x", "HasSecret": True}
    provider = redact_identity_provider({"ProviderName": "Google", "ProviderDetails": {
        "client_id": "id", "client_secret": "shh", "authorize_scopes": "email", "token_url": "https://t"}})
    assert provider["ProviderDetails"] == {"client_id": "id", "authorize_scopes": "email", "token_url": "https://t"}
    assert provider["RedactedDetails"] == ["client_secret"]


@pytest.mark.parametrize("kind", ["openssl", "python"])
def test_sha256_state_survives_a_save_and_restore(kind):
    import hashlib
    import os

    from backup_lambda import sha256_state

    data = os.urandom(70_001)
    first = sha256_state.new(kind=kind)
    first.update(data[:12_345])
    second = sha256_state.new(first.state(), kind=kind)
    second.update(data[12_345:])
    assert second.hexdigest() == hashlib.sha256(data).hexdigest()
    assert sha256_state.new(kind=kind).hexdigest() == hashlib.sha256(b"").hexdigest()
