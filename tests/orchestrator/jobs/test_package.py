"""orchestrator.jobs: the package's names are imported on first use, so a worker (which needs only
Actor) does not import the job service, the batch path or the views.

Each check runs in a fresh interpreter: what a process imports at start is the subject.
"""

from __future__ import annotations

import pytest

from tests.support.fresh import run_fresh


def test_a_worker_imports_the_actor_but_not_the_job_service() -> None:
    out = run_fresh("""
        import sys
        import worker.runner
        print("orchestrator.jobs.actor" in sys.modules, "orchestrator.jobs.service" in sys.modules,
              "orchestrator.jobs.batch" in sys.modules)
    """)
    assert out == "True False False"


def test_the_package_names_are_the_modules_own() -> None:
    out = run_fresh("""
        from orchestrator.jobs import Actor, JobService, JobView, concurrency_key_of, trace_id_of
        from orchestrator.jobs.actor import Actor as A
        from orchestrator.jobs.service import JobService as S
        from orchestrator.jobs.views import JobView as V
        from orchestrator.jobs import submission
        print(Actor is A, JobService is S, JobView is V,
              concurrency_key_of is submission.concurrency_key_of,
              trace_id_of is submission.trace_id_of)
    """)
    assert out == "True True True True True"


def test_an_unknown_name_is_an_attribute_error() -> None:
    import orchestrator.jobs

    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        orchestrator.jobs.Nope  # noqa: B018
