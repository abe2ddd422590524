"""The effective policy of one principal and intent: what the resolver produces, what decides.

Rules combine like this (docs/tags.md):

- **Deny wins**: a tool matched by any applying tag's ``denied_tools`` is refused, whatever grants
  it; the deciding tag is the first denying one in resolution order.
- **Grants**: a tool matched by an ``allowed_tools`` pattern is allowed (subject to scopes).
- **Default policy**: a tool nothing grants or denies gets ``ORCH_TAGS__DEFAULT_POLICY``
  (``allow`` or ``deny``), decided by ``"default"``.
- **Scopes intersect**: every ``tool_scopes`` entry whose pattern matches the tool must accept
  the call's arguments (JSON Schema); the first that does not refuses it, naming its tag, the
  argument and the constraint. Listing a tool (``arguments=None``) checks no scope.

Resolution order (for "the first tag"): kind in the order company, role, function, flow, tool;
then name; then owner tenant.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import translate
from typing import Any, Literal

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from orchestrator.mcp.policy import ToolDecision

DefaultPolicy = Literal["allow", "deny"]


@dataclass(frozen=True, slots=True)
class PolicyPrincipal:
    """Who a policy is for.

    Attributes:
        tenant_id: The principal's tenant (``default`` when auth is off).
        user_id: Its subject (``key:<id>``, ``user:<sub>``), if known.
        role: Its role, if known.
    """

    tenant_id: str
    user_id: str | None = None
    role: str | None = None


@dataclass(frozen=True, slots=True)
class AppliedTag:
    """A tag that applied to the principal: name, kind, version and owner tenant."""

    name: str
    kind: str
    version: int
    tenant_id: str


@dataclass(frozen=True, slots=True)
class Rule:
    """A tool pattern and the tag it comes from."""

    pattern: str
    tag: str


@dataclass(frozen=True, slots=True)
class Scope:
    """A JSON Schema the arguments of tools matching ``pattern`` must satisfy, from ``tag``."""

    pattern: str
    tag: str
    schema: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _ToolRules:
    denied_by: Rule | None
    allowed_by: Rule | None
    scopes: tuple[tuple[Scope, Draft202012Validator], ...]


def _matcher(pattern: str) -> re.Pattern[str]:
    return re.compile(translate(pattern))


@dataclass(frozen=True)
class EffectivePolicy:
    """What a principal may do with tools, and the system prompt it gets, for one intent.

    Immutable; :meth:`decide` memoizes per tool name, so a repeated decision costs a dict lookup
    (and, with arguments, one JSON Schema validation per matching scope).

    Attributes:
        principal: Who it is for.
        intent: The intent it was resolved for (``None``: none given).
        default_policy: What a tool nothing grants or denies gets.
        tags: The tags that applied, in resolution order.
        allowed: Grant patterns with their tags.
        denied: Deny patterns with their tags.
        scopes: Argument scopes with their tags.
        prompt: The system prompt: the applying tags' text ``content`` in the order company,
            role, function, flow, joined by blank lines.
        generation: The tenant's tag generation it was resolved at (cache validity).
    """

    principal: PolicyPrincipal
    intent: str | None
    default_policy: DefaultPolicy
    tags: tuple[AppliedTag, ...] = ()
    allowed: tuple[Rule, ...] = ()
    denied: tuple[Rule, ...] = ()
    scopes: tuple[Scope, ...] = ()
    prompt: str = ""
    generation: int = 0
    _memo: dict[str, _ToolRules] = field(default_factory=dict, compare=False, repr=False)
    _compiled: dict[str, re.Pattern[str]] = field(default_factory=dict, compare=False, repr=False)

    def decide(self, tool: str, arguments: Mapping[str, Any] | None = None) -> ToolDecision:
        """Decide whether the principal may see (``arguments=None``) or call ``tool``.

        Args:
            tool: ``server/tool``.
            arguments: The call's arguments (a JSON object), or ``None`` for tool listing.

        Returns:
            The decision, naming the deciding tag (or ``"default"``) and, for a scope
            violation, the argument (its name; a JSON pointer when nested) and the failed
            constraint as ``{keyword: value}`` (e.g. ``{"maximum": 5}``).
        """
        rules = self._memo.get(tool)
        if rules is None:
            rules = self._memo[tool] = self._rules_for(tool)
        if rules.denied_by is not None:
            rule = rules.denied_by
            return ToolDecision(False, rule.tag, f"denied by tag {rule.tag!r} ({rule.pattern})")
        if rules.allowed_by is None and self.default_policy == "deny":
            return ToolDecision(False, "default", "no tag grants this tool (default policy deny)")
        if arguments is not None:
            for scope, validator in rules.scopes:
                error = best_match(validator.iter_errors(dict(arguments)))
                if error is not None:
                    argument, constraint = _violation(error, arguments)
                    return ToolDecision(
                        False, scope.tag, f"argument {argument!r} is outside the scope of tag "
                        f"{scope.tag!r}: {error.message}", argument=argument, constraint=constraint,
                    )  # fmt: skip
        if rules.allowed_by is not None:
            rule = rules.allowed_by
            return ToolDecision(True, rule.tag, f"allowed by tag {rule.tag!r} ({rule.pattern})")
        return ToolDecision(True, "default", "no tag grants or denies this tool (default allow)")

    def visible(self, tools: Iterable[str]) -> list[str]:
        """The tools of ``tools`` the principal may see, in their order (list filtering)."""
        return [t for t in tools if self.decide(t).allowed]

    def _matches(self, pattern: str, tool: str) -> bool:
        compiled = self._compiled.get(pattern)
        if compiled is None:
            compiled = self._compiled[pattern] = _matcher(pattern)
        return compiled.match(tool) is not None

    def _rules_for(self, tool: str) -> _ToolRules:
        denied = next((r for r in self.denied if self._matches(r.pattern, tool)), None)
        allowed = next((r for r in self.allowed if self._matches(r.pattern, tool)), None)
        scopes = tuple(
            (s, Draft202012Validator(s.schema))
            for s in self.scopes
            if self._matches(s.pattern, tool)
        )
        return _ToolRules(denied, allowed, scopes)

    def to_json(self) -> dict[str, Any]:
        """The policy as JSON (the Redis cache's value, and the API's answer)."""
        return {
            "tenant_id": self.principal.tenant_id, "user_id": self.principal.user_id,
            "role": self.principal.role, "intent": self.intent,
            "default_policy": self.default_policy,
            "tags": [{"name": t.name, "kind": t.kind, "version": t.version,
                      "tenant_id": t.tenant_id} for t in self.tags],
            "allowed": [{"pattern": r.pattern, "tag": r.tag} for r in self.allowed],
            "denied": [{"pattern": r.pattern, "tag": r.tag} for r in self.denied],
            "scopes": [{"pattern": s.pattern, "tag": s.tag, "schema": s.schema}
                       for s in self.scopes],
            "prompt": self.prompt, "generation": self.generation,
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EffectivePolicy:
        """Rebuild a policy from :meth:`to_json`'s output.

        Raises:
            KeyError, TypeError, ValueError: ``data`` is not such an output.
        """
        return cls(
            principal=PolicyPrincipal(data["tenant_id"], data["user_id"], data["role"]),
            intent=data["intent"], default_policy=data["default_policy"],
            tags=tuple(AppliedTag(t["name"], t["kind"], int(t["version"]), t["tenant_id"])
                       for t in data["tags"]),
            allowed=tuple(Rule(r["pattern"], r["tag"]) for r in data["allowed"]),
            denied=tuple(Rule(r["pattern"], r["tag"]) for r in data["denied"]),
            scopes=tuple(Scope(s["pattern"], s["tag"], s["schema"]) for s in data["scopes"]),
            prompt=data["prompt"], generation=int(data["generation"]),
        )  # fmt: skip


def _violation(error: ValidationError, arguments: Mapping[str, Any]) -> tuple[str, Any]:
    """The argument a JSON Schema error is about, and the constraint it failed."""
    path = [str(p) for p in error.absolute_path]
    if not path and error.validator == "required" and isinstance(error.validator_value, list):
        path = [next((str(n) for n in error.validator_value if n not in arguments), "")]
    elif not path and error.validator == "additionalProperties":
        extra = sorted(set(arguments) - set((error.schema or {}).get("properties", {})))
        path = extra[:1]
    if len(path) <= 1:
        argument = path[0] if path else ""
    else:
        argument = "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in path)
    return argument, {str(error.validator): error.validator_value}


__all__ = ["AppliedTag", "DefaultPolicy", "EffectivePolicy", "PolicyPrincipal", "Rule", "Scope"]
