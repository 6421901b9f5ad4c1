"""Import and export formats: readers and writers as plugins (``registry.FORMATS``), the
field mapping, CRS handling and geometry checks. Importable without the web service.

The way in is ``pipeline.open_input``: it unpacks, detects, picks a layer, a CRS and a field
mapping, and yields checked Arrow batches ready to stage in PostgreSQL.
"""

from geo.formats.base import FileRefused, Limits, Problem
from geo.formats.pipeline import Area, Input, Options, open_input
from geo.formats.problems import ProblemLog
from geo.formats.registry import FORMATS, get_format
from geo.formats.schema import TargetField, TargetSchema

__all__ = [
    "FORMATS",
    "Area",
    "FileRefused",
    "Input",
    "Limits",
    "Options",
    "Problem",
    "ProblemLog",
    "TargetField",
    "TargetSchema",
    "get_format",
    "open_input",
]
