"""``orchestrator dev``: gateway and worker in one process, embedded defaults when unset."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import structlog

from orchestrator.config import Settings
from orchestrator.embedded import EmbeddedRedis, default_sqlite_url
from orchestrator.logs import configure_logging

log = structlog.get_logger("dev")


async def run_dev(settings: Settings, *, submit: str | None, inputs: dict[str, Any]) -> int:
    """Serve the gateway and a worker; with ``submit``, run that job, stream it, and exit.

    Returns:
        The exit code: 0, or 1 when the submitted job did not succeed.
    """
    import uvicorn

    from gateway.app import create_app
    from orchestrator.cli.stream import follow_job
    from orchestrator.services import Services
    from orchestrator.trace.migrate import upgrade
    from sdk import AsyncClient
    from worker.runner import build_worker, stop_worker

    with contextlib.ExitStack() as stack:
        if not settings.redis.url:
            redis = stack.enter_context(EmbeddedRedis())
            settings.redis.url = redis.url
            log.info("started embedded redis-server", url=redis.url)
        else:
            from orchestrator.cli.preflight import check_redis

            await check_redis(settings.redis.url)  # one line if it is down, not a traceback
        if not settings.database.url:
            settings.database.url = default_sqlite_url(Path(".orchestrator"))
            log.info("using embedded SQLite trace store", url=settings.database.url)
        await asyncio.to_thread(upgrade, settings.database.url)

        gateway_services = await Services.open(settings)
        worker_services = await Services.open(settings, gateway_services.registry)
        app = create_app(settings, services=gateway_services)
        server = uvicorn.Server(
            uvicorn.Config(app, host=settings.gateway.host, port=settings.gateway.port,
                           log_level="warning", lifespan="on", ws_per_message_deflate=False)
        )
        worker = build_worker(worker_services, handle_signals=False)
        tasks = [asyncio.ensure_future(server.serve()), asyncio.ensure_future(worker.async_run())]
        code = 0
        try:
            while not server.started:
                if tasks[0].done():
                    tasks[0].result()
                    return 1
                await asyncio.sleep(0.02)  # uvicorn exposes readiness only as a flag
            port = server.servers[0].sockets[0].getsockname()[1]
            url = f"http://{settings.gateway.host}:{port}"
            log.info("dev server ready", url=url, workflows=[w.name for w in gateway_services.registry])
            if submit is None:
                await tasks[0]
            else:
                # The job's output owns the terminal from here: logs go to a file, so that they
                # do not interleave with the streamed text.
                log_path = Path(".orchestrator") / "dev.log"
                log_path.parent.mkdir(exist_ok=True)
                log.info("following the job; logs continue in a file", path=str(log_path))
                log_file = stack.enter_context(log_path.open("a"))
                configure_logging(settings.log_level, json=True, stream=log_file,
                                  redact_fields=settings.log.redact_fields)
                key = settings.gateway.api_key
                async with AsyncClient(
                    url, api_key=key.get_secret_value() if key else None
                ) as client:
                    job = await client.submit(submit, inputs)
                    log.info("submitted", job_id=job.job_id, workflow=submit)
                    last = await follow_job(client, job.job_id)
                    code = 0 if last is not None and last.type == "job.succeeded" else 1
        finally:
            server.should_exit = True
            await asyncio.gather(tasks[0], return_exceptions=True)
            await stop_worker(worker, tasks[1])
            await worker_services.close()
            await gateway_services.close()
        return code


__all__ = ["run_dev"]
