"""Unpacking uploaded zip archives (zipped shapefiles, KMZ) without trusting them.

A zip can lie about its sizes, hold thousands of members, expand to terabytes, or name members
``../../etc/passwd``. Every check here happens before or while a member is written, with limits
the caller sets, and a refusal always says what was wrong.
"""

from __future__ import annotations

import shutil
import stat
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from geo.formats.base import FileRefused, Limits

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_CHUNK = 1024 * 1024


def is_zip(path: Path) -> bool:
    """True when the file starts like a zip archive (or is named like one)."""
    with path.open("rb") as stream:
        head = stream.read(4)
    return head in ZIP_MAGIC or path.suffix.lower() in (".zip", ".kmz")


def _safe_name(name: str) -> PurePosixPath:
    if "\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise FileRefused(
            f"the zip holds a member with an absolute or Windows path ({name!r}); "
            "zip the files themselves, without folders outside the archive"
        )
    path = PurePosixPath(name)
    if ".." in path.parts:
        raise FileRefused(
            f"the zip holds a member whose name climbs out of the archive ({name!r}); "
            "this is refused for safety"
        )
    return path


def unpack(archive: Path, target: Path, limits: Limits) -> list[Path]:
    """Check and extract ``archive`` into ``target``; returns the extracted files.

    Parameters
    ----------
    archive : Path
        The uploaded zip (or KMZ) file.
    target : Path
        An empty private directory to extract into.
    limits : Limits
        Member count, total uncompressed bytes and compression ratio allowed.

    Returns
    -------
    list of Path
        Regular files extracted (folders inside the zip are kept; nothing lands outside
        ``target``).

    Raises
    ------
    FileRefused
        Damaged or truncated archive, unsafe member names or links, nested archives, too many
        members, or more data than allowed (a zip bomb).
    """
    try:
        bundle = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise FileRefused(
            f"the zip archive is damaged or incomplete ({error}); create it again and re-send it"
        ) from error
    with bundle:
        members = check_members(bundle, limits)
        return _extract(bundle, members, target, limits)


def check_members(bundle: zipfile.ZipFile, limits: Limits) -> list[zipfile.ZipInfo]:
    """The members of an archive, after the checks ``unpack`` makes before writing any
    (a spreadsheet, itself a zip, is checked the same way before it is read)."""
    members = [m for m in bundle.infolist() if not m.is_dir()]
    if not members:
        raise FileRefused("the zip archive is empty")
    if len(members) > limits.max_zip_members:
        raise FileRefused(
            f"the zip holds {len(members)} files; at most {limits.max_zip_members} are "
            "accepted (CIVOP_IMPORT_MAX_ZIP_MEMBERS)",
            reason="too_large",
        )
    declared = 0
    for member in members:
        _safe_name(member.filename)
        mode = member.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise FileRefused(f"the zip holds a symbolic link ({member.filename!r}); refused")
        if member.flag_bits & 0x1:
            raise FileRefused(f"{member.filename!r} is encrypted; send it without a password")
        if member.filename.lower().endswith((".zip", ".kmz", ".gz", ".7z", ".rar")):
            raise FileRefused(
                f"the zip holds another archive ({member.filename!r}); unpack it and send "
                "its files in one zip"
            )
        declared += member.file_size
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > _CHUNK and ratio > limits.max_compression_ratio:
            raise FileRefused(
                f"{member.filename!r} expands {ratio:.0f} times; more than "
                f"{limits.max_compression_ratio:.0f} is refused as a zip bomb",
                reason="too_large",
            )
    if declared > limits.max_uncompressed_bytes:
        raise FileRefused(
            f"the zip expands to {declared / 1024**2:.0f} MiB; at most "
            f"{limits.max_uncompressed_bytes / 1024**2:.0f} MiB are accepted "
            "(CIVOP_IMPORT_MAX_UNCOMPRESSED_MB)",
            reason="too_large",
        )
    return members


def _extract(
    bundle: zipfile.ZipFile, members: list[zipfile.ZipInfo], target: Path, limits: Limits
) -> list[Path]:
    root = target.resolve()
    written = 0
    files: list[Path] = []
    for member in members:
        destination = (root / _safe_name(member.filename)).resolve()
        if root not in destination.parents:
            raise FileRefused(f"the zip member {member.filename!r} would land outside the archive")
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            with bundle.open(member) as source, destination.open("wb") as sink:
                # The sizes in the directory can lie: count what really comes out.
                while chunk := source.read(_CHUNK):
                    written += len(chunk)
                    if written > limits.max_uncompressed_bytes:
                        raise FileRefused(
                            "the zip expands to more than "
                            f"{limits.max_uncompressed_bytes / 1024**2:.0f} MiB; refused as a "
                            "zip bomb (CIVOP_IMPORT_MAX_UNCOMPRESSED_MB)",
                            reason="too_large",
                        )
                    sink.write(chunk)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as error:
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir(parents=True, exist_ok=True)
            raise FileRefused(
                f"the zip archive is damaged or incomplete at {member.filename!r} ({error}); "
                "create it again and re-send it"
            ) from error
        files.append(destination)
    return files
