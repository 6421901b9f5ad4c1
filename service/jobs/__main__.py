"""``python -m service.jobs``: one worker process (what ``civop worker`` runs)."""

from __future__ import annotations

import asyncio
import logging

from service.jobs.worker import run_worker


def main(concurrency: int | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    asyncio.run(run_worker(concurrency))


if __name__ == "__main__":
    main()
