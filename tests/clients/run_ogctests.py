"""Run the OGC API - Features Part 1 core test suite (PyPI ``ogctests``) against a server, with
HTTP Basic credentials, and write its results as JUnit XML.

Run with the interpreter of the suite's own environment (``make ogctests`` makes it):
``python run_ogctests.py URL USERNAME API_KEY REPORT.xml``. Exits with the suite's status."""

import os
import sys

import httpx
from ogctests.main import run_ogctests


def main() -> int:
    url, username, key, report = sys.argv[1:5]
    client = httpx.Client(base_url=url, auth=(username, key), timeout=60)
    # Its own settings only: not those of the project whose tests started it.
    flags = [
        "-q",
        "-c",
        os.devnull,
        "-p",
        "no:cacheprovider",
        "--tb=short",
        f"--junit-xml={report}",
    ]
    return int(run_ogctests("features/core", url, flags, test_client=client))


if __name__ == "__main__":
    sys.exit(main())
