"""Redis key formats of DESIGN §4."""

from orchestrator.keys import Keys


def test_the_default_prefix_is_orch() -> None:
    assert Keys().prefix == "orch"


def test_the_job_hash_key_is_orch_job_and_the_job_id() -> None:
    assert Keys().job("j1") == "orch:job:j1"


def test_the_checkpoint_key_is_orch_state_the_job_id_and_the_step() -> None:
    assert Keys().state("j1", "fetch_context") == "orch:state:j1:fetch_context"


def test_the_event_stream_key_is_orch_events_and_the_job_id() -> None:
    assert Keys().events("j1") == "orch:events:j1"


def test_the_lease_key_is_orch_lease_and_the_job_id() -> None:
    assert Keys().lease("j1") == "orch:lease:j1"


def test_the_step_cache_key_is_orch_cache_the_step_and_the_fingerprint() -> None:
    assert Keys().cache("fetch_context", "ab12") == "orch:cache:fetch_context:ab12"


def test_the_lease_index_is_one_key_under_the_prefix() -> None:
    assert Keys().leases() == "orch:leases"


def test_a_custom_prefix_replaces_orch_in_every_key() -> None:
    keys = Keys(prefix="tenant7")

    assert [
        keys.job("j"),
        keys.state("j", "s"),
        keys.events("j"),
        keys.lease("j"),
        keys.leases(),
        keys.cache("s", "f"),
    ] == [
        "tenant7:job:j",
        "tenant7:state:j:s",
        "tenant7:events:j",
        "tenant7:lease:j",
        "tenant7:leases",
        "tenant7:cache:s:f",
    ]
