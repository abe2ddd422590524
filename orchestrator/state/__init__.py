"""The state store seam: the :class:`StateStore` protocol and its Redis implementation."""

from orchestrator.state.base import Checkpoint, Lapsed, NewEvent, StateStore, Write
from orchestrator.state.codec import step_field
from orchestrator.state.records import JobState, StepState
from orchestrator.state.redis import RedisStateStore

__all__ = [
    "Checkpoint",
    "JobState",
    "Lapsed",
    "NewEvent",
    "RedisStateStore",
    "StateStore",
    "StepState",
    "Write",
    "step_field",
]
