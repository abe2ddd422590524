"""The worker's view of Redis: one log line per change of state, bounded jittered backoff."""

from __future__ import annotations

import structlog

from worker.redis_health import RedisHealth


def test_an_outage_is_logged_once_when_it_starts_and_once_when_it_ends() -> None:
    health = RedisHealth(base_delay_seconds=0.1, max_delay_seconds=2.0)
    with structlog.testing.capture_logs() as logs:
        for _ in range(50):
            health.failed(ConnectionError("refused"), source="poll")
        health.failed(ConnectionError("refused"), source="reaper")
        assert not health.up
        health.ok()
        health.ok()
    assert [e["event"] for e in logs] == ["redis unavailable", "redis back"]
    assert logs[0]["source"] == "poll"
    assert health.up and health.failures == 0


def test_the_backoff_grows_is_jittered_and_stays_bounded() -> None:
    health = RedisHealth(base_delay_seconds=0.1, max_delay_seconds=2.0)
    health.failed(ConnectionError(), source="poll")
    first = [health.delay_seconds() for _ in range(200)]
    assert all(0.05 <= d <= 0.1 for d in first) and len(set(first)) > 1
    for _ in range(40):
        health.failed(ConnectionError(), source="poll")
    late = [health.delay_seconds() for _ in range(200)]
    assert all(1.0 <= d <= 2.0 for d in late)
