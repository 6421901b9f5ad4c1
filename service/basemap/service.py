"""The basemap civop serves from a file: which file, what it holds, and its tiles."""

from __future__ import annotations

import shutil
from pathlib import Path

from geo.basemap import NotMBTiles, TilesetInfo, read_info, read_tile
from service.config import Settings
from service.i18n import _

#: Where ``civop basemap register`` puts the file, in the service's own folder.
REGISTERED_NAME = "basemap.mbtiles"
PMTILES_NAME = "basemap.pmtiles"


def basemap_path(settings: Settings) -> Path | None:
    """The basemap file the settings name, or the registered one; ``None`` when neither."""
    if settings.basemap_file:
        return Path(settings.basemap_file)
    if settings.home:
        for name in (REGISTERED_NAME, PMTILES_NAME):
            registered = Path(settings.home) / name
            if registered.is_file():
                return registered
    return None


def basemap_info(settings: Settings) -> TilesetInfo | None:
    """What the basemap holds; ``None`` with no basemap or one that cannot be read (the map
    then draws its plain background, as without one)."""
    path = basemap_path(settings)
    if path is None:
        return None
    try:
        return read_info(path)
    except NotMBTiles:
        return None


def tile(info: TilesetInfo, z: int, x: int, y: int) -> bytes | None:
    """A tile of the basemap, ``None`` outside what the file holds."""
    if not (info.minzoom <= z <= info.maxzoom) or not (0 <= x < 2**z and 0 <= y < 2**z):
        return None
    return read_tile(info.path, z, x, y)


def register(source: Path, settings: Settings) -> TilesetInfo:
    """Check ``source`` and copy it to where the service reads its basemap.

    Raises
    ------
    NotMBTiles
        ``source`` is not a basemap civop can serve, or the service has no folder of its own.
    """
    read_info(source)
    if not settings.home:
        raise NotMBTiles(
            _(
                "the service has no folder of its own (CIVOP_HOME): set CIVOP_BASEMAP_FILE to "
                "{file} instead",
                file=source,
            )
        )
    target = Path(settings.home) / (
        REGISTERED_NAME if source.suffix.lower() != ".pmtiles" else PMTILES_NAME
    )
    for stale in (Path(settings.home) / REGISTERED_NAME, Path(settings.home) / PMTILES_NAME):
        if stale != target:
            stale.unlink(missing_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    shutil.copyfile(source, partial)
    partial.replace(target)
    return read_info(target)
