"""What the import API answers: jobs, problems and previews."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from service.i18n import _


def said(problem: dict[str, Any]) -> str:
    """A problem's message in the reader's language: geo keeps what it said (``said``: the
    message and its values, see ``geo.formats.base.Said``), the catalogs translate it."""
    spec = problem.get("said")
    return _render(spec) if isinstance(spec, dict) else str(problem["message"])


def _render(spec: dict[str, Any]) -> str:
    values = {
        name: _render(value) if isinstance(value, dict) and "message" in value else value
        for name, value in (spec.get("values") or {}).items()
    }
    return _(str(spec["message"]), **values)


class ProblemOut(BaseModel):
    row: int | None = Field(description="Record number in the file, from 1; none for the file.")
    field: str | None = Field(description="The field as the file names it.")
    message: str
    severity: str = Field(description="error (nothing is imported) or warning.")
    value: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _in_reader_language(cls, data: Any) -> Any:
        if isinstance(data, dict) and "said" in data:
            return {**data, "message": said(data)}
        return data


class ProgressOut(BaseModel):
    rows_read: int
    rows_total: int | None
    percent: float | None


class JobOut(BaseModel):
    """An import job."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    number: int | None = Field(
        None,
        description="The import's running number among all imports; shown only to admins, who "
        "see every import (to others it would count the imports hidden from them).",
    )
    collection: str
    status: str = Field(description="running, succeeded, failed or rolled_back.")
    file_name: str
    file_sha256: str
    file_size: int
    format: str | None
    layer: str | None
    crs: str | None
    classification: str
    origin: str
    options: dict[str, Any]
    rows_total: int | None
    rows_read: int
    created: int
    updated: int
    unchanged: int
    rejected: int
    problems: list[ProblemOut]
    problems_total: int
    message: str | None
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    rolled_back_at: datetime | None
    rolled_back_by: str | None
    progress: ProgressOut | None = None


class PreviewOut(BaseModel):
    """What an import would do; nothing was written."""

    ok: bool = Field(description="True when the file would import without errors.")
    collection: str
    format: str
    layer: str
    layers: list[dict[str, Any]]
    geometry_type: str | None
    count: int | None
    encoding: str | None = Field(None, description="The text encoding read (CSV files).")
    encoding_from: str | None = Field(
        None, description="given, byte order mark, valid UTF-8 or guessed."
    )
    crs: str
    crs_from: str = Field(description="given (source_crs), file, or format (WGS 84 by definition).")
    reprojected: bool
    mapping: dict[str, Any]
    origin: str
    classification: str
    counts: dict[str, int]
    would: dict[str, int] = Field(
        description="Records that would be created, updated, left unchanged (the file holds what "
        "they hold already), skipped (deleted)."
    )
    problems: list[ProblemOut]
    problems_total: int
    sample: list[dict[str, Any]]


class FormatOut(BaseModel):
    name: str
    title: str
    extensions: list[str]
    read: bool
    write: bool
    collection: str | None = Field(None, description="The collection this format fills.")
