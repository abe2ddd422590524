"""Queries of the ``llm_calls`` table: batched inserts, a job's totals, usage reports."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, func, select

from orchestrator.llm.records import LLMCallRecord
from orchestrator.trace.base import StoreBase
from orchestrator.trace.records import parse_uuid, to_db
from orchestrator.trace.schema import llm_calls

GroupBy = Literal["model", "workflow", "tenant", "user", "day"]

_TOKENS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")


def _totals(row: Any) -> dict[str, Any]:
    """A sum row as ``{calls, input_tokens, ..., total_tokens, cost_usd, unpriced_calls}``."""
    out: dict[str, Any] = {"calls": int(row.calls or 0)}
    for name in _TOKENS:
        out[name] = int(getattr(row, name) or 0)
    out["total_tokens"] = sum(out[name] for name in _TOKENS)
    out["cost_usd"] = round(float(row.cost_usd or 0.0), 9)
    out["unpriced_calls"] = int(row.unpriced_calls or 0)
    return out


def _add(into: dict[str, Any] | None, *others: dict[str, Any]) -> dict[str, Any]:
    """Add totals (as :func:`_totals` makes them, plus ``fallbacks``) field by field."""
    out: dict[str, Any] = dict(into) if into else {
        "calls": 0, **dict.fromkeys(_TOKENS, 0), "total_tokens": 0, "cost_usd": 0.0,
        "unpriced_calls": 0, "fallbacks": 0,
    }  # fmt: skip
    for other in others:
        for name in out:
            out[name] += other.get(name, 0)
    out["cost_usd"] = round(out["cost_usd"], 9)
    return out


def _sums() -> list[Any]:
    return [
        func.count().label("calls"),
        *(func.sum(llm_calls.c[name]).label(name) for name in _TOKENS),
        func.sum(llm_calls.c.cost_usd).label("cost_usd"),
        func.sum(func.cast(llm_calls.c.cost_usd.is_(None), llm_calls.c.attempt.type)).label(
            "unpriced_calls"),
    ]  # fmt: skip


class UsageQueries(StoreBase):
    """Writes and sums LLM calls (DESIGN §16)."""

    async def insert_llm_calls(self, records: Sequence[LLMCallRecord]) -> None:
        """Insert a batch of calls in one statement.

        Raises:
            TraceError: The write failed; nothing was written.
            ValueError: A job id is not a UUID, or a datetime is naive.
        """
        if not records:
            return
        rows = []
        for r in records:
            key = parse_uuid(r.job_id)
            if key is None:
                raise ValueError(f"job id {r.job_id!r} is not a UUID")
            rows.append({
                "job_id": key, "step": r.step, "attempt": r.attempt, "seq": r.seq,
                "workflow": r.workflow, "tenant_id": r.tenant_id, "user_id": r.user_id,
                "provider": r.provider, "model": r.model, "requested_model": r.requested_model,
                "input_tokens": r.usage.input_tokens, "output_tokens": r.usage.output_tokens,
                "cache_read_tokens": r.usage.cache_read_tokens,
                "cache_write_tokens": r.usage.cache_write_tokens, "cost_usd": r.cost_usd,
                "latency_ms": r.latency_ms, "time_to_first_token_ms": r.time_to_first_token_ms,
                "stop_reason": r.stop_reason, "replayed": r.replayed,
                "created_at": to_db(r.created_at),
            })  # fmt: skip
        async with self._transaction("insert_llm_calls") as conn:
            await conn.execute(llm_calls.insert(), rows)

    async def job_usage(self, job_id: str) -> dict[str, Any]:
        """A job's LLM totals, per step and per step attempt.

        Returns:
            ``{"calls", "input_tokens", "output_tokens", "cache_read_tokens",
            "cache_write_tokens", "total_tokens", "cost_usd", "unpriced_calls", "fallbacks",
            "steps": {step: {...the same...}}, "attempts": {(step, attempt): {...}}}`` (zeros
            for a job without calls or a non-UUID id). ``fallbacks`` counts calls a budget
            policy sent to the fallback model.
        """
        key = parse_uuid(job_id)
        query = (
            select(llm_calls.c.step, llm_calls.c.attempt, *_sums(),
                   func.count(llm_calls.c.requested_model).label("fallbacks"))
            .where(llm_calls.c.job_id == key)
            .group_by(llm_calls.c.step, llm_calls.c.attempt)
        )  # fmt: skip
        rows: Sequence[Any] = []
        if key is not None:
            async with self._transaction("job_usage") as conn:
                rows = (await conn.execute(query)).all()
        attempts = {(row.step, int(row.attempt)): {**_totals(row), "fallbacks": int(row.fallbacks)}
                    for row in rows}  # fmt: skip
        steps: dict[str, dict[str, Any]] = {}
        for (step, _), totals in sorted(attempts.items()):
            steps[step] = _add(steps.get(step), totals)
        total = _add(None, *steps.values())
        return {**total, "steps": steps, "attempts": attempts}

    async def usage_report(
        self,
        *,
        group_by: GroupBy,
        tenant_id: str | None,
        user_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """Sums of LLM calls per group, largest cost first.

        Args:
            group_by: ``model`` (``provider:model``), ``workflow``, ``tenant``, ``user`` or
                ``day`` (UTC date, ``YYYY-MM-DD``).
            tenant_id: Only this tenant's calls (the gateway always passes the caller's).
            user_id: Only this user's calls (submitters see their own only).
            since: Calls at or after this instant (aware).
            until: Calls strictly before this instant (aware).

        Returns:
            ``[{"key", "calls", ...tokens, "total_tokens", "cost_usd", "unpriced_calls"}]``.
        """
        key: ColumnElement[Any]
        if group_by == "model":
            key = llm_calls.c.provider + ":" + llm_calls.c.model
        elif group_by == "day":
            key = (func.to_char(func.timezone("UTC", llm_calls.c.created_at), "YYYY-MM-DD")
                   if self._engine.dialect.name == "postgresql"
                   else func.strftime("%Y-%m-%d", llm_calls.c.created_at))  # fmt: skip
        else:
            key = {"workflow": llm_calls.c.workflow, "tenant": llm_calls.c.tenant_id,
                   "user": llm_calls.c.user_id}[group_by]  # fmt: skip
        where: list[ColumnElement[bool]] = []
        if tenant_id is not None:
            where.append(llm_calls.c.tenant_id == tenant_id)
        if user_id is not None:
            where.append(llm_calls.c.user_id == user_id)
        if since is not None:
            where.append(llm_calls.c.created_at >= to_db(since))
        if until is not None:
            where.append(llm_calls.c.created_at < to_db(until))
        query = select(key.label("key"), *_sums()).where(*where).group_by(key)
        async with self._transaction("usage_report") as conn:
            rows = (await conn.execute(query)).all()
        groups = [{"key": row.key, **_totals(row)} for row in rows]
        groups.sort(key=lambda g: (-g["cost_usd"], -g["total_tokens"], str(g["key"])))
        return groups

    async def llm_spend(self, since: datetime, until: datetime) -> list[dict[str, Any]]:
        """Cost and tokens per tenant and user between two instants (budget reconciliation).

        Returns:
            ``[{"tenant_id", "user_id", "cost_usd", "tokens"}]``.
        """
        tokens = sum((llm_calls.c[name] for name in _TOKENS[1:]), llm_calls.c[_TOKENS[0]])
        query = (
            select(llm_calls.c.tenant_id, llm_calls.c.user_id,
                   func.sum(llm_calls.c.cost_usd).label("cost_usd"),
                   func.sum(tokens).label("tokens"))
            .where(llm_calls.c.created_at >= to_db(since), llm_calls.c.created_at < to_db(until))
            .group_by(llm_calls.c.tenant_id, llm_calls.c.user_id)
        )  # fmt: skip
        async with self._transaction("llm_spend") as conn:
            rows = (await conn.execute(query)).all()
        return [{"tenant_id": r.tenant_id, "user_id": r.user_id, "cost_usd": float(r.cost_usd or 0),
                 "tokens": int(r.tokens or 0)} for r in rows]  # fmt: skip


__all__ = ["GroupBy", "UsageQueries"]
