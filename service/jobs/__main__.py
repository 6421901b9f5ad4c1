"""``python -m service.jobs``: one worker process (what ``civop worker`` runs)."""

from __future__ import annotations

import asyncio
import logging
import os

from service.jobs.worker import run_worker


def main(concurrency: int | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if os.environ.get("CIVOP_WORKER_OF_PID"):
        # Started by ``civop serve``: stop (SIGTERM) when it ends, however it ends.
        stop_with_parent(int(os.environ["CIVOP_WORKER_OF_PID"]))
    asyncio.run(run_worker(concurrency))


def stop_with_parent(parent: int) -> None:
    import contextlib
    import ctypes
    import signal

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # it ended before the line above
        raise SystemExit(1)


if __name__ == "__main__":
    main()
