"""``civop serve`` (the API and its job workers) and ``civop worker``."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from service.config import get_settings


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
) -> None:
    """Serve the API with uvicorn, and start the job workers beside it (``CIVOP_JOBS_WORKERS``
    of them; they stop with it)."""
    import subprocess
    import sys

    import uvicorn

    base = f"http://{host}:{port}"
    typer.echo(f"civop: map at {base}/map, API docs at {base}/docs, health at {base}/health")
    env = {**os.environ, "CIVOP_WORKER_OF_PID": str(os.getpid())}
    job_workers = [
        subprocess.Popen([sys.executable, "-m", "service.jobs"], env=env)
        for _ in range(get_settings().jobs_workers)
    ]
    try:
        uvicorn.run("service.main:app_factory", factory=True, host=host, port=port, workers=workers)
    finally:
        for process in job_workers:
            process.terminate()
        for process in job_workers:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


def worker(
    concurrency: Annotated[
        int | None, typer.Option(help="Jobs run at once (default CIVOP_JOBS_CONCURRENCY).")
    ] = None,
) -> None:
    """Run jobs (exports, reports, imports, rollbacks, time-based alert rules) from the queue
    in PostgreSQL, each in a child process of its own, until stopped (SIGTERM or Ctrl-C)."""
    from service.jobs.__main__ import main

    main(concurrency)
