"""Receiving an upload privately and opening it (format, layer, CRS, mapping), or refusing it."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from geo.formats import Area, FileRefused, Input, Limits, Options, open_input
from geo.formats.pipeline import safe_file_name
from service.config import Settings
from service.errors import CivopError, InvalidInput
from service.i18n import _
from service.imports.request import ImportRequest, collection_of
from service.imports.targets import target_schema


class PayloadTooLarge(CivopError):
    status_code = 413


class UnsupportedFormat(CivopError):
    status_code = 415


def refusal(error: FileRefused) -> CivopError:
    """A refused file as the HTTP error that fits."""
    if error.reason == "too_large":
        return PayloadTooLarge(error.message)
    if error.reason == "unsupported":
        return UnsupportedFormat(error.message)
    return InvalidInput(["body", error.field], error.message)


@dataclass
class Upload:
    """A received file in its own private folder (removed by ``discard``)."""

    path: Path
    name: str
    size: int
    sha256: str
    workdir: Path

    def discard(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)


def limits_of(settings: Settings) -> Limits:
    return Limits(
        max_zip_members=settings.import_max_zip_members,
        max_uncompressed_bytes=settings.import_max_uncompressed_mb * 1024**2,
        max_compression_ratio=settings.import_max_compression_ratio,
        batch_rows=settings.import_batch_rows,
    )


def _workdir(settings: Settings) -> Path:
    root = settings.import_dir
    if root:
        Path(root).mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="civop-import-", dir=root))


async def receive(chunks: AsyncIterator[bytes], name: str, settings: Settings) -> Upload:
    """Store an upload privately, hashing it and refusing it past the size limit."""
    workdir = _workdir(settings)
    path = workdir / "upload" / safe_file_name(name or "upload")
    path.parent.mkdir()
    limit = settings.import_max_upload_mb * 1024**2
    digest = hashlib.sha256()
    size = 0
    try:
        with path.open("wb") as sink:
            async for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(
                        f"the file is larger than {settings.import_max_upload_mb} MiB "
                        "(CIVOP_IMPORT_MAX_UPLOAD_MB); split it or use the command line"
                    )
                digest.update(chunk)
                sink.write(chunk)
        if size == 0:
            raise InvalidInput(["body", "file"], _("the file is empty"))
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    return Upload(path, name, size, digest.hexdigest(), workdir)


def receive_path(source: Path, settings: Settings) -> Upload:
    """A file on this machine (the command line): read in place, hashed, nothing copied."""
    if not source.is_file():
        raise InvalidInput(["file"], _("{source} is not a file", source=source))
    digest = hashlib.sha256()
    with source.open("rb") as stream:
        while chunk := stream.read(1024 * 1024):
            digest.update(chunk)
    workdir = _workdir(settings)
    link = workdir / "upload" / safe_file_name(source.name)
    link.parent.mkdir()
    link.symlink_to(source.resolve())
    return Upload(link, source.name, source.stat().st_size, digest.hexdigest(), workdir)


async def open_upload(upload: Upload, request: ImportRequest, settings: Settings) -> Input:
    """Find the format, layer, CRS and mapping of an upload, or refuse it with a 4xx."""
    collection_of(request.collection)
    options = Options(
        format=request.format,
        layer=request.layer,
        mapping=request.mapping,
        source_crs=request.source_crs,
        encoding=request.encoding,
    )
    area = Area(
        settings.mission_bbox,
        settings.import_outside_km,
        settings.size_limits(request.collection),
    )
    try:
        opened = await asyncio.to_thread(
            open_input,
            upload.path,
            schema=target_schema(request.collection),
            options=options,
            limits=limits_of(settings),
            workdir=upload.workdir,
            area=area,
        )
    except FileRefused as error:
        raise refusal(error) from error
    wanted = opened.format.preset.collection
    if wanted and wanted != request.collection and request.format is None:
        raise InvalidInput(
            ["body", "collection"],
            _(
                "{title} files go into {wanted}, not {collection}",
                title=opened.format.title,
                wanted=wanted,
                collection=request.collection,
            ),
        )
    return opened
