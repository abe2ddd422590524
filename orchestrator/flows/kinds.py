"""What a flow step does when it runs: call a tool, prompt a model, or ask the user.

Each kind acts through the step's context, so a flow step is exactly as durable and as
governed as a Python step: ``ctx.tools`` (tag policy, audit, durable call records),
``ctx.llm`` (budgets, usage, durable), ``ctx.ask`` (the job waits; the worker is freed).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.dag.context import StepContext
from orchestrator.errors import StepError
from orchestrator.flows.model import FlowStep
from orchestrator.flows.templates import Template, render_value

CTX_PARAM = "_ctx"
"""The parameter of a flow step's function that receives the :class:`StepContext`."""


def _error(code: str, message: str, **details: Any) -> StepError:
    error = StepError(message, details=details)
    error.code = code
    return error


@dataclass(slots=True)
class FlowStepRuntime:
    """A compiled flow step: its templates and how to run it.

    Attributes:
        spec: The step as defined.
        arguments: ``arguments`` with string leaves compiled (tool steps).
        text: The compiled ``prompt`` (prompt steps) or ``ask.prompt`` (ask steps).
        system: The compiled ``system`` (prompt steps), or ``None``.
        items_step: With ``map_over``: the generated step whose output is the list.
        upstream: The steps whose outputs its templates may read.
    """

    spec: FlowStep
    arguments: Any
    text: Template | None
    system: Template | None
    items_step: str | None
    upstream: tuple[str, ...]

    def context(self, kwargs: Mapping[str, Any]) -> tuple[StepContext, dict[str, Any]]:
        """The step's context and the template variables built from its call's arguments."""
        ctx: StepContext = kwargs[CTX_PARAM]
        variables: dict[str, Any] = {
            "inputs": dict(ctx.inputs),
            "steps": {name: {"output": kwargs.get(name)} for name in self.upstream},
        }
        if self.items_step is not None:
            variables["item"] = kwargs.get(self.items_step)
        return ctx, variables

    async def run(self, kwargs: Mapping[str, Any]) -> Any:
        """Run a tool, ask or (unstreamed) prompt step; returns its output."""
        ctx, variables = self.context(kwargs)
        kind = self.spec.kind
        if kind == "tool":
            return await self._tool(ctx, variables)
        if kind == "ask":
            assert self.text is not None and self.spec.ask is not None
            prompt = str(self.text.render(variables))
            return await ctx.ask(prompt, schema=self.spec.ask.answer_schema)
        chunks = [chunk async for chunk in self.stream(kwargs)]
        return "".join(chunks)

    async def _tool(self, ctx: StepContext, variables: Mapping[str, Any]) -> Any:
        if ctx.tools is None:
            raise _error("tools_unavailable", "no MCP tool plane is configured in this worker",
                         step=self.spec.name, tool=self.spec.tool)  # fmt: skip
        arguments = render_value(self.arguments, variables)
        assert self.spec.tool is not None
        result = await ctx.tools.call(self.spec.tool, arguments)
        if result.is_error:
            raise _error("tool_failed", f"tool {self.spec.tool} returned an error",
                         step=self.spec.name, tool=self.spec.tool, text=result.text[:2000])  # fmt: skip
        return result.output

    async def stream(self, kwargs: Mapping[str, Any]) -> AsyncIterator[str]:
        """Run a prompt step, yielding the model's text deltas."""
        ctx, variables = self.context(kwargs)
        if ctx.llm is None:
            raise _error("llm_unavailable", "no LLM provider is configured in this worker",
                         step=self.spec.name)  # fmt: skip
        assert self.text is not None
        parts: list[str] = []
        if self.spec.intent is not None:
            tags_prompt = await ctx.prompt(self.spec.intent)
            if tags_prompt:
                parts.append(tags_prompt)
        if self.system is not None:
            parts.append(str(self.system.render(variables)))
        stream = ctx.llm.stream(
            [{"role": "user", "content": str(self.text.render(variables))}],
            model=self.spec.model,
            system="\n\n".join(parts) or None,
            max_tokens=self.spec.max_tokens,
        )
        async for text in stream:
            yield text


__all__ = ["CTX_PARAM", "FlowStepRuntime"]
