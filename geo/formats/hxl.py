"""CSV files with an HXL hashtag row (Humanitarian Exchange Language), e.g. from HDX.

The CSV reader already understands a hashtag row; this plugin makes HXL the detected format
for such files, so the report says so, and is the name of the CSV export with an HXL row.
"""

from __future__ import annotations

from pathlib import Path

from geo.formats.base import FileRefused
from geo.formats.csv import CSV, read_header


class HXL(CSV):
    name = "hxl"
    title = "CSV with an HXL hashtag row"

    @classmethod
    def sniff(cls, path: Path, head: bytes) -> int:
        if CSV.sniff(path, head) == 0:
            return 0
        try:
            header = read_header(path, None)
        except FileRefused:
            return 0
        return 60 if header.hxl is not None else 0
