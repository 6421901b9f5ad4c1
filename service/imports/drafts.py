"""Drafts: an uploaded file kept for its uploader between its previews and its import.

The import wizard of the workspace previews a file, lets its uploader change the mapping and
preview it again, then imports it, without sending the file again. The file is kept in a
folder of its own under the jobs' folder (private to the service's account), with the user
it belongs to; each preview or import gets a copy of it (a hard link where the file system
allows) and runs in the job worker as the API's large uploads do. Drafts are removed a day
(``CIVOP_JOBS_RESULT_HOURS``) after they were made.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from service.access.policy import Principal
from service.config import Settings
from service.errors import NotFound
from service.i18n import _
from service.imports.jobs import create_queued_job
from service.imports.models import ImportJob
from service.imports.request import ImportRequest, check_importer, check_writer
from service.imports.upload import Upload, _workdir, receive
from service.jobs import service as jobs
from service.jobs.models import Job


@dataclass(frozen=True)
class Draft:
    """An uploaded file waiting to be imported, and who uploaded it."""

    id: uuid.UUID
    folder: Path
    owner_id: uuid.UUID
    name: str
    size: int
    sha256: str

    @property
    def file(self) -> Path:
        return next((self.folder / "file").iterdir())


def drafts_dir(settings: Settings) -> Path:
    root = jobs.jobs_dir(settings) / "drafts"
    root.mkdir(exist_ok=True, mode=0o700)
    return root


def _sweep(settings: Settings) -> None:
    """Remove drafts older than the jobs' results are kept."""
    limit = time.time() - settings.jobs_result_hours * 3600
    for folder in drafts_dir(settings).iterdir():
        try:
            if folder.stat().st_mtime < limit:
                shutil.rmtree(folder, ignore_errors=True)
        except FileNotFoundError:
            continue


async def create(
    chunks: AsyncIterator[bytes], name: str, principal: Principal, settings: Settings
) -> Draft:
    """Receive a file for ``principal`` (an importer) and keep it as a draft."""
    check_writer(principal)
    assert principal.user_id is not None
    _sweep(settings)
    upload = await receive(chunks, name, settings)
    draft_id = uuid.uuid4()
    folder = drafts_dir(settings) / str(draft_id)
    try:
        (folder / "file").mkdir(parents=True)
        shutil.move(upload.path, folder / "file" / upload.path.name)
        meta = {
            "owner_id": str(principal.user_id),
            "name": upload.name,
            "size": upload.size,
            "sha256": upload.sha256,
        }
        (folder / "draft.json").write_text(json.dumps(meta), encoding="utf-8")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    finally:
        upload.discard()
    return Draft(draft_id, folder, principal.user_id, upload.name, upload.size, upload.sha256)


def get(principal: Principal, draft_id: uuid.UUID, settings: Settings) -> Draft:
    """The draft ``draft_id`` of ``principal`` (no one else's)."""
    folder = drafts_dir(settings) / str(draft_id)
    try:
        meta: dict[str, Any] = json.loads((folder / "draft.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError) as error:
        raise NotFound(_("no such file (it was removed after a day, or is not yours)")) from error
    if principal.user_id is None or meta["owner_id"] != str(principal.user_id):
        raise NotFound(_("no such file (it was removed after a day, or is not yours)"))
    return Draft(
        draft_id,
        folder,
        uuid.UUID(meta["owner_id"]),
        meta["name"],
        int(meta["size"]),
        meta["sha256"],
    )


def discard(draft: Draft) -> None:
    shutil.rmtree(draft.folder, ignore_errors=True)


def _copy(draft: Draft, settings: Settings) -> Upload:
    """A fresh upload of the draft's file, which a job takes as its own."""
    workdir = _workdir(settings)
    target = workdir / "upload" / draft.file.name
    target.parent.mkdir()
    try:
        os.link(draft.file, target)
    except OSError:
        shutil.copyfile(draft.file, target)
    return Upload(target, draft.name, draft.size, draft.sha256, workdir)


async def submit_preview(
    session: AsyncSession,
    principal: Principal,
    draft: Draft,
    request: ImportRequest,
    settings: Settings,
) -> Job:
    """Queue a preview of the draft with ``request`` (its mapping) in the job worker."""
    check_importer(principal, request)
    os.utime(draft.folder)  # a draft in use is kept
    return await jobs.submit_upload(
        session, principal, "import_preview", _copy(draft, settings), request
    )


async def submit_import(
    session: AsyncSession,
    principal: Principal,
    draft: Draft,
    request: ImportRequest,
    settings: Settings,
) -> tuple[ImportJob, Job]:
    """Queue the import of the draft (its record and the worker's job committed together)."""
    upload = _copy(draft, settings)
    try:
        job = await create_queued_job(session, upload, principal, request)
    except BaseException:
        upload.discard()
        raise
    work = await jobs.submit_upload(session, principal, "import", upload, request, import_job=job)
    return job, work
