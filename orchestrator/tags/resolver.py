"""Principal + intent → the tags that apply → an :class:`EffectivePolicy` (DESIGN §15).

A tag applies to a principal (tenant, user, role) and an intent when all of these hold:

1. **Tenant**: the principal's tenant is in the tag's scope (``org_scope``, or the tag's own
   tenant when that is empty).
2. **Assignment**: the principal's user is in ``assigned_users`` or its role in
   ``assigned_roles`` (``*`` matches anyone). A ``company`` tag with no assignees applies to every
   principal of its scope; a tag of another kind with no assignees applies to nobody (it can be
   stored before it is assigned).
3. **Intent**: :func:`~orchestrator.tags.model.applies_to_intent`.

:func:`resolve_policy` is the pure function; :class:`TagResolver` adds the store and the cache.
"""

from __future__ import annotations

from collections.abc import Iterable

from orchestrator.tags.base import StoredTag, TagStore
from orchestrator.tags.cache import TagCache
from orchestrator.tags.effective import (
    AppliedTag,
    DefaultPolicy,
    EffectivePolicy,
    PolicyPrincipal,
    Rule,
    Scope,
)
from orchestrator.tags.model import PROMPT_ORDER, TagKind, applies_to_intent

_KIND_ORDER = {kind: i for i, kind in enumerate((*PROMPT_ORDER, TagKind.TOOL))}


def _user_matches(entry: str, user_id: str | None) -> bool:
    if entry == "*":
        return True
    return user_id is not None and (entry == user_id or f"user:{entry}" == user_id)


def applies_to_principal(stored: StoredTag, principal: PolicyPrincipal) -> bool:
    """Whether ``stored`` applies to ``principal`` by tenant and assignment (rules 1 and 2)."""
    if principal.tenant_id not in stored.scope:
        return False
    config = stored.tag.payload.config
    if not config.assigned_users and not config.assigned_roles:
        return stored.tag.kind is TagKind.COMPANY
    if any(_user_matches(u, principal.user_id) for u in config.assigned_users):
        return True
    return any(r == "*" or (principal.role is not None and r == principal.role)
               for r in config.assigned_roles)  # fmt: skip


def resolve_policy(
    tags: Iterable[StoredTag],
    principal: PolicyPrincipal,
    intent: str | None,
    *,
    default_policy: DefaultPolicy,
    generation: int = 0,
) -> EffectivePolicy:
    """Combine the tags that apply to ``principal`` and ``intent`` into its effective policy.

    Args:
        tags: Candidate tags (a tenant's :meth:`~orchestrator.tags.base.TagStore.applicable`).
        principal: Who asks.
        intent: What they are doing, or ``None``.
        default_policy: For tools nothing grants or denies.
        generation: The tenant's tag generation the candidates were read at.

    Returns:
        The policy: allowed/denied patterns and scopes with their tags in resolution order, and
        the prompt assembled from the text content of company, role, function and flow tags.
    """
    applying = sorted(
        (s for s in tags
         if applies_to_principal(s, principal) and applies_to_intent(s.tag, intent)),
        key=lambda s: (_KIND_ORDER[s.tag.kind], s.name, s.tenant_id),
    )  # fmt: skip
    allowed: list[Rule] = []
    denied: list[Rule] = []
    scopes: list[Scope] = []
    prompt: list[str] = []
    for s in applying:
        config = s.tag.payload.config
        allowed += (Rule(p, s.name) for p in config.allowed_tools)
        denied += (Rule(p, s.name) for p in config.denied_tools)
        scopes += (Scope(p, s.name, schema) for p, schema in config.tool_scopes.items())
        content = s.tag.payload.content
        if s.tag.kind in PROMPT_ORDER and isinstance(content, str) and content.strip():
            prompt.append(content.strip())
    return EffectivePolicy(
        principal=principal, intent=intent, default_policy=default_policy,
        tags=tuple(AppliedTag(s.name, str(s.tag.kind), s.version, s.tenant_id) for s in applying),
        allowed=tuple(allowed), denied=tuple(denied), scopes=tuple(scopes),
        prompt="\n\n".join(prompt), generation=generation,
    )  # fmt: skip


class TagResolver:
    """Resolves effective policies through the cache, reading the store on a miss.

    Args:
        store: Where tags live.
        cache: The Redis cache and in-process memo (:class:`~orchestrator.tags.cache.TagCache`).
        default_policy: ``ORCH_TAGS__DEFAULT_POLICY``.
    """

    def __init__(self, store: TagStore, cache: TagCache, *, default_policy: DefaultPolicy) -> None:
        self.store = store
        self.cache = cache
        self.default_policy: DefaultPolicy = default_policy

    async def resolve(
        self, principal: PolicyPrincipal, intent: str | None = None
    ) -> EffectivePolicy:
        """The effective policy of ``principal`` for ``intent``.

        From the in-process memo when the tenant's generation is unchanged (no I/O), else from
        Redis, else resolved from the store's tags (themselves memoized per tenant generation)
        and written back to both.

        Raises:
            StateError: Redis failed. TraceError: the database failed (on a miss).
        """
        cached = await self.cache.get(principal, intent)
        if cached is not None and cached.default_policy == self.default_policy:
            return cached
        generation = await self.cache.generation(principal.tenant_id)
        candidates = self.cache.tags_of(principal.tenant_id, generation)
        if candidates is None:
            candidates = await self.store.applicable(principal.tenant_id)
            self.cache.keep_tags(principal.tenant_id, generation, candidates)
        policy = resolve_policy(
            candidates, principal, intent, default_policy=self.default_policy, generation=generation
        )
        await self.cache.put(policy)
        return policy


__all__ = ["TagResolver", "applies_to_principal", "resolve_policy"]
