"""``civop serve`` (the API and its job workers) and ``civop worker``."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from service.config import get_settings
from service.i18n import N_, SOURCE_LANGUAGE, _, in_language

SERVE_HELP = N_(
    "Serve the API with uvicorn, and start the job workers beside it (CIVOP_JOBS_WORKERS of "
    "them; they stop with it)."
)
WORKER_HELP = N_(
    "Run jobs (exports, reports, imports, rollbacks, time-based alert rules) from the queue in "
    "PostgreSQL, each in a child process of its own, until stopped (SIGTERM or Ctrl-C)."
)


def serve(
    host: Annotated[str, typer.Option(help=N_("The address to listen on."))] = "127.0.0.1",
    port: Annotated[int, typer.Option(help=N_("The port to listen on."))] = 8000,
    workers: Annotated[int, typer.Option(help=N_("Processes serving the API."))] = 1,
) -> None:
    import subprocess
    import sys

    import uvicorn

    base = f"http://{host}:{port}"
    typer.echo(
        _("civop: map at {base}/map, API docs at {base}/docs, health at {base}/health", base=base)
    )
    env = {**os.environ, "CIVOP_WORKER_OF_PID": str(os.getpid())}
    job_workers = [
        subprocess.Popen([sys.executable, "-m", "service.jobs"], env=env)
        for _worker in range(get_settings().jobs_workers)
    ]
    try:
        # The service answers each request in its own language: the shell's is not its default.
        with in_language(SOURCE_LANGUAGE):
            uvicorn.run(
                "service.main:app_factory", factory=True, host=host, port=port, workers=workers
            )
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
        int | None, typer.Option(help=N_("Jobs run at once (default CIVOP_JOBS_CONCURRENCY)."))
    ] = None,
) -> None:
    from service.jobs.__main__ import main

    # Each job runs in the language it was asked in, not the shell's.
    with in_language(SOURCE_LANGUAGE):
        main(concurrency)
