"""Group commit: concurrent callers' items written in shared calls, each caller answered with
its own outcome.

The technique of database group commit (Gray and Reuter, *Transaction Processing*, §9.4.7;
PostgreSQL's ``commit_delay``): when nothing is in flight the caller writes its item itself, at
once (a lone caller pays nothing more than a direct call: no hand-off to a task), and the items
that arrive while a call is in flight leave together in the next one. Under load the fixed cost of a call (a round trip, a statement, a
commit) is shared by the group; without load nothing waits. Used for the submits' rows
(:mod:`orchestrator.jobs.rows`) and their Redis launch (:mod:`orchestrator.jobs.launch`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")

_Pending = tuple[T, "asyncio.Future[None]"]


class GroupCommit(Generic[T]):
    """Writes the items of concurrent callers of one process in shared calls.

    Args:
        one: Writes one item (a group of one, and each item again when its group failed and
            ``retry_alone`` is set); raises that item's error.
        many: Writes a group of two or more items at once; raises if the group failed.
        max_group: Items per call at most (the rest go in the next).
        retry_alone: After a failed group call, write each of its items alone so that a bad
            item fails its own caller only (for an idempotent, all-or-nothing ``many`` such as
            one transaction). Without it every caller of the group gets the group's error.
        name: The writer task's name.
    """

    def __init__(
        self,
        one: Callable[[T], Awaitable[None]],
        many: Callable[[list[T]], Awaitable[None]],
        *,
        max_group: int,
        retry_alone: bool,
        name: str,
    ) -> None:
        self._one = one
        self._many = many
        self._max_group = max_group
        self._retry_alone = retry_alone
        self._name = name
        self._pending: list[_Pending[T]] = []
        self._writer: asyncio.Task[None] | None = None
        self._inline = False  # a lone caller is writing its own item
        self._loop: asyncio.AbstractEventLoop | None = None

    async def put(self, item: T) -> None:
        """Write ``item`` (alone or with others); return once its call succeeded.

        Raises:
            Exception: What ``one`` (or, without ``retry_alone``, ``many``) raised for it.
        """
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # Used from another event loop than before (tests that run one loop per test):
            # what was left to the old loop's writer cannot be finished from this one.
            self._pending = [p for p in self._pending if p[1].get_loop() is loop]
            self._writer, self._inline, self._loop = None, False, loop
        if not self._inline and not self._pending and (self._writer is None
                                                       or self._writer.done()):  # fmt: skip
            # Nothing in flight: the caller writes its item itself (no hand-off to a task);
            # whatever arrives meanwhile waits and leaves as a group once it is done.
            self._inline = True
            try:
                await self._one(item)
            finally:
                self._inline = False
                if self._pending and (self._writer is None or self._writer.done()):
                    self._writer = loop.create_task(self._write(), name=self._name)
            return
        done: asyncio.Future[None] = loop.create_future()
        # Retrieved even when its caller was cancelled meanwhile (no "never retrieved" warning).
        done.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._pending.append((item, done))
        if not self._inline and (self._writer is None or self._writer.done()):
            self._writer = loop.create_task(self._write(), name=self._name)
        # shield: a caller that went away must not cancel the others' group
        await asyncio.shield(done)

    async def _write(self) -> None:
        while self._pending:
            group, self._pending = (
                self._pending[: self._max_group],
                self._pending[self._max_group :],
            )
            if len(group) == 1:
                await self._alone(*group[0])
                continue
            try:
                await self._many([item for item, _ in group])
            except Exception as exc:
                for item, done in group:
                    if self._retry_alone:
                        await self._alone(item, done)
                    elif not done.done():
                        done.set_exception(exc)
                continue
            for _, done in group:
                if not done.done():
                    done.set_result(None)

    async def _alone(self, item: T, done: asyncio.Future[None]) -> None:
        try:
            await self._one(item)
        except Exception as exc:  # the caller that owns the item raises it
            if not done.done():
                done.set_exception(exc)
            return
        if not done.done():
            done.set_result(None)


__all__ = ["GroupCommit"]
