"""What every import and export format shares: problems, refusals, layers, and the plugin base
classes that one module per format implements.

Nothing here knows about the web service: a reader turns a file into Arrow record batches, a
writer turns Arrow record batches into a file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import pyarrow as pa

# Texts for people, kept for translation; where they always were for the formats' modules.
from geo.said import Said as Said
from geo.said import say as say

if TYPE_CHECKING:
    from geo.formats.schema import TargetSchema

#: Name of the WKB geometry column in the batches a reader yields.
GEOMETRY = "__geometry"

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one record (or with the file when ``row`` is ``None``).

    ``row`` counts records from 1 in the order the file holds them (for CSV: the first line after
    the header and the HXL row is row 1). ``field`` is the field as named in the file.
    """

    row: int | None
    field: str | None
    message: str
    severity: Severity = "error"
    value: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "field": self.field,
            "message": self.message,
            "severity": self.severity,
            "value": self.value,
            **({"said": self.message.as_dict()} if isinstance(self.message, Said) else {}),
        }


class FileRefused(ValueError):
    """The file as a whole cannot be imported; the message says why and what to do.

    ``reason`` lets a caller pick a status: ``too_large`` (413), ``unsupported`` (415) or
    ``invalid`` (422). ``field`` names the request field at fault (``file``, ``layer``,
    ``mapping``, ``source_crs`` ...).
    """

    def __init__(
        self,
        message: str,
        *,
        field: str = "file",
        reason: Literal["invalid", "too_large", "unsupported"] = "invalid",
    ) -> None:
        message = without_paths(message)
        super().__init__(message)
        self.message = message
        self.field = field
        self.reason = reason


#: A path on the server (two parts at least): only its last part means anything to a user.
_PATH = re.compile(r"""(?<![\w.:/])(?:[A-Za-z]:)?[/\\](?:[^\s'"/\\]+[/\\])+([^\s'"/\\,;:)]+)""")


def without_paths(message: str) -> str:
    """A message with every server path reduced to the file's name.

    Examples
    --------
    >>> without_paths("'/tmp/civop-import-x1/upload/camps.gpkg' not recognized")
    "'camps.gpkg' not recognized"
    >>> without_paths("use 24.5/7.3 or EPSG:4326")
    'use 24.5/7.3 or EPSG:4326'
    """
    return _PATH.sub(r"\1", message)


@dataclass(frozen=True)
class Limits:
    """How much a file may hold; set by the caller (the service reads them from its settings)."""

    max_zip_members: int = 100
    max_uncompressed_bytes: int = 2 * 1024**3
    max_compression_ratio: float = 100.0
    batch_rows: int = 65_536


@dataclass(frozen=True)
class SourceField:
    """A field of a layer as the file names it, with its HXL hashtag when the file has one."""

    name: str
    hxl: str | None = None


@dataclass(frozen=True)
class LayerInfo:
    name: str
    geometry_type: str | None
    count: int | None
    fields: tuple[SourceField, ...]
    #: The layer's CRS as "AUTHORITY:CODE" or WKT; ``None`` when the file does not say.
    crs: str | None
    #: The text encoding read (CSV), and how it was found (``given``, ``byte order mark``,
    #: ``valid UTF-8``, ``guessed``).
    encoding: str | None = None
    encoding_from: str | None = None
    #: Stands for all the other layers read at once (a KML's folders); chosen when none is.
    combined: bool = False


@dataclass
class OpenLayer:
    """One layer opened for reading."""

    info: LayerInfo
    #: True when batches carry a WKB geometry column named ``GEOMETRY``.
    has_geometry: bool
    reader: Callable[[], Iterator[pa.RecordBatch]] = field(repr=False)

    def batches(self) -> Iterator[pa.RecordBatch]:
        """Record batches in file order; memory holds one batch at a time."""
        yield from self.reader()


@dataclass(frozen=True)
class Preset:
    """What a format knows about its content: the collection it fills, the origin of its ids,
    a default field mapping and derived columns (added by ``Format.derive``)."""

    collection: str | None = None
    origin: str | None = None
    mapping: Mapping[str, str] = field(default_factory=dict)


class Format:
    """A file format plugin: one module per format, registered by name in ``registry``.

    Readers implement ``sniff`` and ``open``; writers implement ``write``. ``derive`` lets a
    format add computed columns (ACLED's event types become incident categories) before the
    field mapping applies.
    """

    name: ClassVar[str]
    title: ClassVar[str]
    extensions: ClassVar[tuple[str, ...]] = ()
    media_type: ClassVar[str] = "application/octet-stream"
    can_read: ClassVar[bool] = True
    can_write: ClassVar[bool] = False
    preset: ClassVar[Preset] = Preset()
    #: The CRS of the format by definition (GeoJSON, KML and CSV coordinates are WGS 84).
    default_crs: ClassVar[str | None] = None
    #: Columns that ``derive`` adds to each batch (mappable like the file's own fields).
    derived: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def sniff(cls, path: Path, head: bytes) -> int:
        """How sure this format is that ``path`` is one of its files: 0 (no) to 100."""
        return 0

    def layers(self, path: Path, *, encoding: str | None = None) -> list[LayerInfo]:
        raise NotImplementedError

    def open(
        self, path: Path, layer: str | None, *, encoding: str | None, limits: Limits
    ) -> OpenLayer:
        raise NotImplementedError

    def derive(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        return batch

    def field_aliases(self, schema: TargetSchema) -> Mapping[str, Sequence[str]]:
        """More names under which this format's files carry the collection's fields."""
        return {}

    def writer(
        self, directory: Path, *, layer: str, collection: str, geometry_types: tuple[str, ...]
    ) -> Writer:
        """A writer of batches (attributes plus a WKB ``GEOMETRY`` column) into ``directory``."""
        raise NotImplementedError


class Writer:
    """Writes an export one batch at a time; ``close`` returns the file to send."""

    def write(self, batch: pa.RecordBatch) -> None:
        raise NotImplementedError

    def close(self) -> Path:
        raise NotImplementedError
