"""Span attribute names, in one place (OpenTelemetry semantic conventions where one exists).

Source: OpenTelemetry semantic conventions 1.3x, "Messaging spans" (``messaging.*``),
"Exceptions" (``exception.*``), "Generative AI" (``gen_ai.usage.*``).
"""

from __future__ import annotations

JOB_ID = "orchestrator.job_id"
WORKFLOW = "orchestrator.workflow"
RUN = "orchestrator.run"
"""1 for a job's first run, 2 after one resume, ..."""
WORKER_ID = "orchestrator.worker_id"
JOB_STATUS = "orchestrator.job.status"
STEP = "orchestrator.step"
ATTEMPT = "orchestrator.attempt"
STEP_STATUS = "orchestrator.step.status"
CACHE_HIT = "orchestrator.cache_hit"
OUTPUT_BYTES = "orchestrator.output_bytes"
DURATION_MS = "orchestrator.duration_ms"
ERROR_CODE = "orchestrator.error.code"
COST_USD = "orchestrator.cost_usd"
REQUEST_ID = "orchestrator.request_id"

INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"

MESSAGING_SYSTEM = "messaging.system"
MESSAGING_DESTINATION = "messaging.destination.name"
MESSAGING_OPERATION = "messaging.operation.type"
MESSAGING_MESSAGE_ID = "messaging.message.id"

EXCEPTION_TYPE = "exception.type"
EXCEPTION_MESSAGE = "exception.message"

CHUNK_EVENT = "step.chunk"
CHUNK_INDEX = "orchestrator.chunk.index"
CHUNK_BYTES = "orchestrator.chunk.bytes"
CHUNK_PREVIEW = "orchestrator.chunk.preview"
