"""The ``@step`` decorator and the :class:`Step` it returns (DESIGN §2)."""

from __future__ import annotations

import hashlib
import inspect
import types
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Any, overload

from orchestrator.errors import DagError


class StepKind(StrEnum):
    """How the executor calls a step function."""

    ASYNC = "async"
    SYNC = "sync"  # runs in a worker thread
    ASYNC_GEN = "async_gen"
    SYNC_GEN = "sync_gen"  # each next() runs in a worker thread


def _kind_of(fn: Callable[..., Any]) -> StepKind:
    if inspect.isasyncgenfunction(fn):
        return StepKind.ASYNC_GEN
    if inspect.isgeneratorfunction(fn):
        return StepKind.SYNC_GEN
    if inspect.iscoroutinefunction(fn):
        return StepKind.ASYNC
    return StepKind.SYNC


def code_fingerprint(fn: Callable[..., Any]) -> str:
    """A hash of a function's code that is the same in every process running that code.

    The hash covers the bytecode, names, argument layout and constants of the function's code
    object and, recursively, of every code object nested in it (lambdas, nested functions,
    comprehensions, generator expressions). A nested code object contributes its own
    fingerprint, never its ``repr`` (which holds a memory address), and sets are hashed in a
    sorted order (their iteration order follows the per-process string hash seed). File names and
    line numbers are left out, so moving a function or reformatting around it keeps its version.

    Args:
        fn: The step function (anything with a ``__code__``).

    Returns:
        16 hex digits of SHA-256; ``"0" * 16`` for callables without ``__code__``.
    """
    code = getattr(fn, "__code__", None)
    if not isinstance(code, types.CodeType):
        return "0" * 16
    return _code_digest(code)[:16]


# Code-object attributes that define what the code does; co_filename, co_firstlineno and the
# line/position tables are left out on purpose (they change when unrelated lines move).
_CODE_FIELDS = (
    "co_argcount", "co_posonlyargcount", "co_kwonlyargcount", "co_flags", "co_name",
    "co_names", "co_varnames", "co_freevars", "co_cellvars",
)


def _code_digest(code: types.CodeType) -> str:
    h = hashlib.sha256(code.co_code)
    for field in _CODE_FIELDS:
        h.update(f"{field}={getattr(code, field)!r};".encode())
    h.update(b"consts=")
    h.update(_const_digest(code.co_consts).encode())
    return h.hexdigest()


def _const_digest(value: Any) -> str:
    """A process-independent text for one constant of a code object (recursive)."""
    if isinstance(value, types.CodeType):
        return f"code({_code_digest(value)})"
    if isinstance(value, tuple):
        return "tuple(" + ",".join(_const_digest(v) for v in value) + ")"
    if isinstance(value, frozenset):
        return "frozenset(" + ",".join(sorted(_const_digest(v) for v in value)) + ")"
    # The remaining constant types (None, Ellipsis, bool, int, float, complex, str, bytes) have
    # a repr that depends only on the value.
    return f"{type(value).__name__}:{value!r}"


class Step:
    """A function registered as a DAG step; calling it calls the function unchanged.

    Attributes:
        fn: The decorated function.
        name: Unique name within a workflow (defaults to ``fn.__name__``).
        depends_on: Upstream steps, as :class:`Step` objects or step names, in binding order.
        parallel: May run concurrently with the job's other ready steps.
        streams: A generator whose yielded chunks are published as ``step.chunk`` events.
        retries: Extra attempts after the first failure (``0`` means one attempt).
        retry_backoff_seconds: Base of the exponential backoff between attempts, in seconds.
        retry_max_backoff_seconds: Cap on one backoff delay, in seconds.
        retry_on: Exception types that are retried (default: any ``Exception``).
        no_retry_on: Exception types never retried, even when ``retry_on`` matches.
        timeout_seconds: Wall-clock limit per attempt, in seconds, or ``None``.
        cache_ttl_seconds: Memoization lifetime of the output, in seconds, or ``None``.
        map_over: A parameter receiving one element of a list per step instance (fan-out).
        max_concurrency: With ``map_over``, how many instances may run at once.
        kind: How the function is called (async, sync in a thread, or a generator of either).
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None,
        depends_on: Sequence[Any],
        parallel: bool,
        streams: bool,
        retries: int,
        retry_backoff_seconds: float,
        timeout_seconds: float | None,
        cache_ttl_seconds: float | None,
        retry_max_backoff_seconds: float = 300.0,
        retry_on: Sequence[type[BaseException]] = (Exception,),
        no_retry_on: Sequence[type[BaseException]] = (),
        map_over: str | None = None,
        max_concurrency: int | None = None,
    ) -> None:
        self.fn = fn
        self.name: str = name or fn.__name__
        self.depends_on: tuple[Any, ...] = tuple(depends_on)
        self.parallel = parallel
        self.streams = streams
        self.retries = retries
        self.retry_backoff_seconds = retry_backoff_seconds
        self.timeout_seconds = timeout_seconds
        self.cache_ttl_seconds = cache_ttl_seconds
        self.retry_max_backoff_seconds = retry_max_backoff_seconds
        self.retry_on = tuple(retry_on)
        self.no_retry_on = tuple(no_retry_on)
        self.map_over = map_over
        self.max_concurrency = max_concurrency
        self.kind = _kind_of(fn)
        self.code_fingerprint = code_fingerprint(fn)
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn
        self._check_options()

    def _check_options(self) -> None:
        def fail(parameter: str, why: str) -> DagError:
            return DagError(
                f"step {self.name!r}: {parameter} {why}",
                details={"step": self.name, "parameter": parameter},
            )

        is_gen = self.kind in (StepKind.ASYNC_GEN, StepKind.SYNC_GEN)
        if self.streams and not is_gen:
            raise fail("streams", "is True but the function is not a generator (use yield)")
        if is_gen and not self.streams:
            raise fail("streams", "must be True for a generator function")
        if not isinstance(self.retries, int) or self.retries < 0:
            raise fail("retries", f"must be a non-negative int, got {self.retries!r}")
        if self.retry_backoff_seconds < 0:
            raise fail("retry_backoff_seconds", "must be >= 0")
        if self.timeout_seconds is not None and self.timeout_seconds <= 0:
            raise fail("timeout_seconds", "must be > 0")
        if self.cache_ttl_seconds is not None and self.cache_ttl_seconds <= 0:
            raise fail("cache_ttl_seconds", "must be > 0")
        if self.retry_max_backoff_seconds < 0:
            raise fail("retry_max_backoff_seconds", "must be >= 0")
        for option in ("retry_on", "no_retry_on"):
            for cls in getattr(self, option):
                if not (isinstance(cls, type) and issubclass(cls, BaseException)):
                    raise fail(option, f"must list exception types, got {cls!r}")
        if self.map_over is not None:
            if not isinstance(self.map_over, str) or not self.map_over.isidentifier():
                raise fail("map_over", f"must name a parameter, got {self.map_over!r}")
            if self.map_over not in inspect.signature(self.fn).parameters:
                raise fail("map_over", f"names no parameter of the function: {self.map_over!r}")
            if self.streams:
                raise fail("map_over", "cannot be combined with streams=True")
        if self.max_concurrency is not None:
            if self.map_over is None:
                raise fail("max_concurrency", "applies only to a step with map_over")
            if not isinstance(self.max_concurrency, int) or self.max_concurrency < 1:
                raise fail("max_concurrency", "must be a positive int")
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise fail("name", f"must be an identifier, got {self.name!r}")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the step's function directly (handy in unit tests)."""
        return self.fn(*args, **kwargs)

    def options(self) -> dict[str, Any]:
        """Return the step's options as JSON, for ``GET /v1/workflows``."""
        return {
            "parallel": self.parallel,
            "streams": self.streams,
            "retries": self.retries,
            "retry_backoff_seconds": self.retry_backoff_seconds,
            "timeout_seconds": self.timeout_seconds,
            "cache_ttl_seconds": self.cache_ttl_seconds,
            "retry_max_backoff_seconds": self.retry_max_backoff_seconds,
            "retry_on": [c.__qualname__ for c in self.retry_on],
            "no_retry_on": [c.__qualname__ for c in self.no_retry_on],
            "map_over": self.map_over,
            "max_concurrency": self.max_concurrency,
            "kind": self.kind.value,
        }

    def __repr__(self) -> str:
        return f"<Step {self.name}>"


@overload
def step(fn: Callable[..., Any], /) -> Step: ...


@overload
def step(
    fn: None = None,
    /,
    *,
    name: str | None = None,
    depends_on: Sequence[Any] = (),
    parallel: bool = False,
    streams: bool = False,
    retries: int = 0,
    retry_backoff_seconds: float = 1.0,
    timeout_seconds: float | None = None,
    cache_ttl_seconds: float | None = None,
    retry_max_backoff_seconds: float = 300.0,
    retry_on: Sequence[type[BaseException]] = (Exception,),
    no_retry_on: Sequence[type[BaseException]] = (),
    map_over: str | None = None,
    max_concurrency: int | None = None,
) -> Callable[[Callable[..., Any]], Step]: ...


def step(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    depends_on: Sequence[Any] = (),
    parallel: bool = False,
    streams: bool = False,
    retries: int = 0,
    retry_backoff_seconds: float = 1.0,
    timeout_seconds: float | None = None,
    cache_ttl_seconds: float | None = None,
    retry_max_backoff_seconds: float = 300.0,
    retry_on: Sequence[type[BaseException]] = (Exception,),
    no_retry_on: Sequence[type[BaseException]] = (),
    map_over: str | None = None,
    max_concurrency: int | None = None,
) -> Step | Callable[[Callable[..., Any]], Step]:
    """Declare a function as a DAG step; usable as ``@step`` or ``@step(...)``.

    Args:
        fn: The function when used bare as ``@step``.
        name: Step name; defaults to the function's name.
        depends_on: Upstream :class:`Step` objects (or their names); their outputs fill this
            step's parameters in this order (see :func:`orchestrator.dag.workflow.workflow`).
        parallel: Allow this step to overlap the job's other ready steps.
        streams: The function is a generator; each yielded chunk becomes a ``step.chunk`` event.
        retries: Extra attempts after a failure.
        retry_backoff_seconds: Backoff base in seconds: attempt n waits ``base * 2**(n-1)``,
            capped, with "equal jitter" (half fixed, half random; AWS Architecture Blog,
            "Exponential Backoff and Jitter", 2015).
        timeout_seconds: Per-attempt limit in seconds.
        cache_ttl_seconds: Memoize the output for this many seconds, keyed by a fingerprint of
            the step's code and arguments, shared across jobs.
        retry_max_backoff_seconds: Cap on one backoff delay, in seconds.
        retry_on: Exception types to retry (default ``(Exception,)``).
        no_retry_on: Exception types never retried (checked first).
        map_over: Name of a parameter that receives one element of a list (a workflow input or
            an upstream output) per instance; instances are named ``step[0]``, ``step[1]``, …
            and downstream steps receive the list of outputs in order.
        max_concurrency: With ``map_over``, the most instances running at once.

    Returns:
        The :class:`Step` (or a decorator producing one).

    Raises:
        DagError: An option is invalid, naming the step and the option.
    """

    def wrap(f: Callable[..., Any]) -> Step:
        if isinstance(f, Step):
            raise DagError(
                f"step {f.name!r} is decorated twice", details={"step": f.name, "parameter": "fn"}
            )
        if not callable(f):
            raise DagError(f"@step needs a function, got {f!r}", details={"parameter": "fn"})
        return Step(
            f,
            name=name,
            depends_on=depends_on,
            parallel=parallel,
            streams=streams,
            retries=retries,
            retry_backoff_seconds=retry_backoff_seconds,
            timeout_seconds=timeout_seconds,
            cache_ttl_seconds=cache_ttl_seconds,
            retry_max_backoff_seconds=retry_max_backoff_seconds,
            retry_on=retry_on,
            no_retry_on=no_retry_on,
            map_over=map_over,
            max_concurrency=max_concurrency,
        )

    if fn is not None:
        return wrap(fn)
    return wrap


__all__ = ["Step", "StepKind", "step"]
