"""API key format and hashing, and the role table."""

from __future__ import annotations

from orchestrator.auth import ROLE_PERMISSIONS, Permission, Role
from orchestrator.auth.apikeys import generate, hash_secret, parse
from orchestrator.auth.roles import strongest


def test_a_generated_key_parses_back_to_its_id_and_hashes_to_the_stored_hash() -> None:
    key_id, key, digest = generate()
    parsed = parse(key)
    assert parsed is not None and parsed[0] == key_id
    assert hash_secret(parsed[1]) == digest and parsed[1] not in digest
    assert len(parsed[1]) >= 43  # 256 random bits


def test_malformed_keys_do_not_parse() -> None:
    for bad in ("", "orch_", "orch_zzzzzzzzzzzzzzzz_secret", "orch_0123456789abcdef-secret",
                "orch_0123456789abcdef_", "key_0123456789abcdef_secret"):
        assert parse(bad) is None


def test_only_admins_read_the_audit_log_and_viewers_change_nothing() -> None:
    assert {r for r, p in ROLE_PERMISSIONS.items() if Permission.AUDIT_READ in p} == {Role.ADMIN}
    mutating = {Permission.JOB_SUBMIT, Permission.JOB_CANCEL, Permission.JOB_RETRY,
                Permission.JOB_INPUT}
    assert not ROLE_PERMISSIONS[Role.VIEWER] & mutating
    assert not ROLE_PERMISSIONS[Role.METRICS] - {Permission.PUBLIC, Permission.SYSTEM_READ}


def test_the_strongest_known_role_of_a_claim_wins() -> None:
    assert strongest(["viewer", "operator", "root"]) is Role.OPERATOR
    assert strongest("submitter") is Role.SUBMITTER
    assert strongest("metrics") is None and strongest(None) is None
