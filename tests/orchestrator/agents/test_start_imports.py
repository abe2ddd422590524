"""A worker loads its agents at start but not the envelope models (pydantic schemas built at
import, ~6 ms of a one-job pod's start): those come with the first agent step (issue 19).

Each check runs in a fresh interpreter: what a process imports at start is the subject.
"""

from __future__ import annotations

from tests.support.fresh import run_fresh


def test_a_worker_imports_the_agents_but_not_the_envelopes() -> None:
    out = run_fresh("""
        import sys
        import worker.runner
        print("orchestrator.agents.registry" in sys.modules,
              "orchestrator.agents.envelope" in sys.modules)
    """)
    assert out == "True False"


def test_a_builtin_agent_turns_a_reply_into_its_output_once_loaded_late() -> None:
    out = run_fresh("""
        from orchestrator.agents.builtin import CodeAgent, ContentAgent
        from orchestrator.agents.envelope import Citation, ReplyEnvelope

        reply = ReplyEnvelope(type="reply", confidence=0.9, content="x", code_language="python",
                              citations=[Citation(source="s", title="t", snippet="n")] * 2)
        content, code = ContentAgent().output(reply), CodeAgent().output(reply)
        print(content.agent_name, len(content.citations), code.code_language)
    """)
    assert out == "content 1 python"
