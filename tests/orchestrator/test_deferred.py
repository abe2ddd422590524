"""orchestrator.deferred: PyJWT imported on first use, structlog without rich; both still work.

Each check runs in a fresh interpreter: what a process imports at start is the subject.
"""

from __future__ import annotations

from tests.support.fresh import run_fresh


def test_a_worker_starts_without_pyjwt_cryptography_or_rich() -> None:
    out = run_fresh("""
        import sys
        import worker.runner
        print(type(sys.modules["jwt"]).__name__, "cryptography.x509" in sys.modules,
              "rich" in sys.modules)
    """)
    assert out == "_Deferred False False"


def test_the_deferred_jwt_is_the_real_one_on_first_use() -> None:
    out = run_fresh("""
        import sys
        import orchestrator
        import redis.auth.token as redis_token  # binds the stand-in, as at a worker's start
        import jwt
        token = jwt.encode({"sub": "a"}, "k" * 32, algorithm="HS256")
        from jwt import PyJWTError
        import jwt.exceptions
        print(jwt.decode(token, "k" * 32, algorithms=["HS256"])["sub"],
              PyJWTError is jwt.exceptions.PyJWTError,
              redis_token.jwt.decode is sys.modules["jwt"].decode,
              type(sys.modules["jwt"]).__name__, type(redis_token.jwt).__name__,
              "decode" in vars(redis_token.jwt))  # the stand-in, now read directly
    """)
    assert out == "a True True module _Deferred True"


def test_rich_stays_importable_and_logged_exceptions_keep_their_traceback() -> None:
    out = run_fresh("""
        import io, logging
        import orchestrator
        from orchestrator.logs import configure_logging
        import rich.console
        stream = io.StringIO()
        configure_logging(json=True, stream=stream)
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("t").exception("failed")
        line = stream.getvalue()
        print(rich.console.Console.__name__, "Traceback (most recent call last)" in line,
              "ValueError: boom" in line)
    """)
    assert out == "Console True True"
