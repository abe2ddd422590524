"""The resolver, table-driven: users, roles, tenants and tags → visible tools and prompts.

Pure: :func:`resolve_policy` over in-memory tags (the store and cache have their own tests).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from orchestrator.tags import PolicyPrincipal, StoredTag, resolve_policy
from orchestrator.tags.effective import DefaultPolicy
from tests.orchestrator.tags.builders import make_tag, stored

TOOLS = ["git/git_log", "git/git_commit", "time/get_current_time", "time/convert_time",
         "fs/read_file"]  # fmt: skip
GIT = ["git/git_log", "git/git_commit"]
TIME = ["time/get_current_time", "time/convert_time"]

ALICE = PolicyPrincipal("acme", "user:alice", "submitter")
BOB = PolicyPrincipal("acme", "key:bob", "operator")
ADMIN = PolicyPrincipal("acme", "key:root", "admin")
EVE = PolicyPrincipal("beta", "user:eve", "submitter")  # another tenant


@dataclass
class Case:
    id: str
    tags: list[StoredTag]
    principal: PolicyPrincipal
    visible: list[str]
    intent: str | None = None
    default: DefaultPolicy = "deny"
    prompt: str = ""
    applied: list[str] = field(default_factory=list)


TIME_FOR_SUBMITTERS = stored(make_tag("submitters", roles=["submitter"], allow=["time/*"]))
COMPANY_NO_COMMIT = stored(make_tag("acme", "company", deny=["git/git_commit"],
                                    content="You work for Acme."))  # fmt: skip
GIT_FOR_OPERATORS = stored(make_tag("ops", roles=["operator", "admin"], allow=["git/*"]))
REVIEW = stored(make_tag("code-review", "function", roles=["*"], allow=["git/git_log"],
                         content="Review the change line by line."))  # fmt: skip

CASES = [
    Case("no tags, default allow: everything", [], ALICE, TOOLS, default="allow"),
    Case("no tags, default deny: nothing", [], ALICE, []),
    Case(
        "a role grant reaches its role", [TIME_FOR_SUBMITTERS], ALICE, TIME, applied=["submitters"]
    ),
    Case("a role grant does not reach another role", [TIME_FOR_SUBMITTERS], BOB, []),
    Case(
        "deny wins over a grant",
        [COMPANY_NO_COMMIT, GIT_FOR_OPERATORS],
        BOB,
        ["git/git_log"],
        prompt="You work for Acme.",
        applied=["acme", "ops"],
    ),
    Case(
        "deny wins over default allow",
        [COMPANY_NO_COMMIT],
        ALICE,
        [t for t in TOOLS if t != "git/git_commit"],
        default="allow",
        prompt="You work for Acme.",
        applied=["acme"],
    ),
    Case(
        "admins are not exempt",
        [COMPANY_NO_COMMIT, GIT_FOR_OPERATORS],
        ADMIN,
        ["git/git_log"],
        prompt="You work for Acme.",
        applied=["acme", "ops"],
    ),
    Case(
        "a user assignment (bare name matches user:<sub>)",
        [stored(make_tag("alice-fs", users=["alice"], allow=["fs/*"]))],
        ALICE,
        ["fs/read_file"],
        applied=["alice-fs"],
    ),
    Case(
        "a user assignment by full subject",
        [stored(make_tag("bob-fs", users=["key:bob"], allow=["fs/*"]))],
        BOB,
        ["fs/read_file"],
        applied=["bob-fs"],
    ),
    Case(
        "another tenant's tag does not apply",
        [stored(make_tag("beta-git", roles=["*"], allow=["git/*"]), tenant="beta")],
        ALICE,
        [],
    ),
    Case(
        "tenant scoping both ways",
        [stored(make_tag("beta-git", roles=["*"], allow=["git/*"]), tenant="beta")],
        EVE,
        GIT,
        applied=["beta-git"],
    ),
    Case(
        "org_scope brings a parent's tag into the tenant",
        [
            stored(
                make_tag("org-time", roles=["*"], allow=["time/*"], org=["acme", "beta"]),
                tenant="parent",
            )
        ],
        EVE,
        TIME,
        applied=["org-time"],
    ),
    Case(
        "org_scope replaces the own tenant",
        [stored(make_tag("beta-only", roles=["*"], allow=["time/*"], org=["beta"]))],
        ALICE,
        [],
    ),
    Case(
        "a tag with no assignees applies to nobody",
        [stored(make_tag("draft", "role", allow=["git/*"]))],
        ALICE,
        [],
    ),
    Case(
        "a company tag with no assignees applies to everyone",
        [stored(make_tag("acme-all", "company", allow=["time/*"]))],
        BOB,
        TIME,
        applied=["acme-all"],
    ),
    Case(
        "a function tag applies to its own intent",
        [REVIEW],
        ALICE,
        ["git/git_log"],
        intent="code-review",
        prompt="Review the change line by line.",
        applied=["code-review"],
    ),
    Case(
        "an unknown intent gets only intent-independent tags",
        [REVIEW, TIME_FOR_SUBMITTERS],
        ALICE,
        TIME,
        intent="no-such-intent",
        applied=["submitters"],
    ),
    Case("no intent gets only intent-independent tags", [REVIEW], ALICE, []),
    Case(
        "a function tag's intents are globs",
        [
            stored(
                make_tag(
                    "reviews", "function", roles=["*"], intents=["review-*"], allow=["git/git_log"]
                )
            )
        ],
        ALICE,
        ["git/git_log"],
        intent="review-pr",
        applied=["reviews"],
    ),
    Case(
        "a role tag bound to intents skips others",
        [stored(make_tag("nightly", roles=["*"], intents=["nightly"], allow=["git/*"]))],
        ALICE,
        [],
        intent="daytime",
    ),
    Case(
        "prompt order: company, role, function, flow; tool tags add none",
        [
            stored(make_tag("a-flow", "flow", roles=["*"], intents=["*"], content="4 flow")),
            stored(
                make_tag("b-function", "function", roles=["*"], intents=["*"], content="3 function")
            ),
            stored(make_tag("c-role", "role", roles=["*"], content="2 role")),
            stored(make_tag("d-company", "company", content="1 company")),
            stored(make_tag("e-tool", "tool", roles=["*"], content="not prompt")),
        ],
        ALICE,
        TOOLS,
        default="allow",
        intent="anything",
        prompt="1 company\n\n2 role\n\n3 function\n\n4 flow",
        applied=["d-company", "c-role", "b-function", "a-flow", "e-tool"],
    ),
    Case(
        "a flow definition (an object) is not prompt text",
        [stored(make_tag("release", "flow", roles=["*"], content={"steps": []}))],
        ALICE,
        [],
        intent="release",
        applied=["release"],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_the_resolver_gives_each_principal_its_tools_and_prompt(case: Case) -> None:
    policy = resolve_policy(case.tags, case.principal, case.intent, default_policy=case.default)

    assert policy.visible(TOOLS) == case.visible
    assert policy.prompt == case.prompt
    assert [t.name for t in policy.tags] == case.applied


def test_the_deciding_tag_of_a_denial_is_the_denying_tag() -> None:
    policy = resolve_policy([COMPANY_NO_COMMIT, GIT_FOR_OPERATORS], BOB, None,
                            default_policy="allow")  # fmt: skip

    denied = policy.decide("git/git_commit")
    granted = policy.decide("git/git_log")
    defaulted = policy.decide("fs/read_file")

    assert (denied.allowed, denied.tag) == (False, "acme")
    assert (granted.allowed, granted.tag) == (True, "ops")
    assert (defaulted.allowed, defaulted.tag) == (True, "default")
    assert resolve_policy([], BOB, None, default_policy="deny").decide("x/y").tag == "default"


GIT_LOG_SCOPE = {"git/git_log": {
    "type": "object",
    "properties": {"repo_path": {"const": "/srv/repos/app"},
                   "max_count": {"type": "integer", "maximum": 5}},
    "required": ["repo_path"],
}}  # fmt: skip
HISTORY = stored(make_tag("history-reader", roles=["submitter"], allow=["git/git_log"],
                          scopes=GIT_LOG_SCOPE))  # fmt: skip


def test_a_max_count_scope_refuses_50_and_allows_5() -> None:
    policy = resolve_policy([HISTORY], ALICE, None, default_policy="deny")

    refused = policy.decide("git/git_log", {"repo_path": "/srv/repos/app", "max_count": 50})
    allowed = policy.decide("git/git_log", {"repo_path": "/srv/repos/app", "max_count": 5})

    assert refused.allowed is False
    assert refused.tag == "history-reader"
    assert refused.argument == "max_count"
    assert refused.constraint == {"maximum": 5}
    assert allowed.allowed is True and allowed.tag == "history-reader"


def test_a_const_scope_names_the_argument_and_a_missing_one_too() -> None:
    policy = resolve_policy([HISTORY], ALICE, None, default_policy="deny")

    other_repo = policy.decide("git/git_log", {"repo_path": "/etc", "max_count": 1})
    missing = policy.decide("git/git_log", {"max_count": 1})

    assert (other_repo.argument, other_repo.constraint) == (
        "repo_path",
        {"const": "/srv/repos/app"},
    )
    assert missing.allowed is False and missing.argument == "repo_path"
    assert missing.constraint == {"required": ["repo_path"]}


def test_scopes_of_several_tags_intersect_and_listing_checks_none() -> None:
    tighter = stored(
        make_tag(
            "tighter", roles=["*"], scopes={"git/*": {"properties": {"max_count": {"maximum": 2}}}}
        )
    )
    policy = resolve_policy([HISTORY, tighter], ALICE, None, default_policy="deny")

    three = policy.decide("git/git_log", {"repo_path": "/srv/repos/app", "max_count": 3})

    assert (three.allowed, three.tag, three.constraint) == (False, "tighter", {"maximum": 2})
    assert policy.decide("git/git_log", {"repo_path": "/srv/repos/app", "max_count": 2}).allowed
    assert policy.decide("git/git_log").allowed  # no arguments: visibility only


def test_a_nested_argument_is_named_by_a_json_pointer() -> None:
    nested = stored(
        make_tag(
            "nested",
            roles=["*"],
            allow=["db/query"],
            scopes={
                "db/query": {"properties": {"filter": {"properties": {"limit": {"maximum": 10}}}}}
            },
        )
    )
    policy = resolve_policy([nested], ALICE, None, default_policy="deny")

    decision = policy.decide("db/query", {"filter": {"limit": 99}})

    assert (decision.argument, decision.constraint) == ("/filter/limit", {"maximum": 10})


def test_a_policy_survives_its_json_form() -> None:
    policy = resolve_policy([HISTORY, COMPANY_NO_COMMIT], ALICE, "x", default_policy="deny",
                            generation=7)  # fmt: skip

    again = type(policy).from_json(policy.to_json())

    assert again == policy
    assert again.decide("git/git_log", {"repo_path": "/etc"}).argument == "repo_path"
