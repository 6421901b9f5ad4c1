"""QGIS as a GIS officer uses it, headless: an HTTP Basic authentication configuration with a
username and an API key, every OGC API - Features layer of a server and its vector tiles,
features counted and the map drawn to a PNG.

Run with the Python that has Debian's QGIS (``python3-qgis``), not the project's:
``/usr/bin/python3 qgis_client.py URL USERNAME API_KEY OUT.png`` prints a JSON report.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import urllib.request

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QGIS_PREFIX_PATH", "/usr")
_profile = tempfile.mkdtemp(prefix="qgis-profile-")
# The authentication database (and its master password) of a throwaway profile.
os.environ.setdefault("QGIS_AUTH_DB_DIR_PATH", _profile)
os.environ.setdefault("XDG_RUNTIME_DIR", _profile)

from qgis.core import (  # noqa: E402
    Qgis,
    QgsApplication,
    QgsAuthMethodConfig,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsDataSourceUri,
    QgsMapRendererSequentialJob,
    QgsMapSettings,
    QgsProject,
    QgsRectangle,
    QgsVectorLayer,
    QgsVectorTileLayer,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QSize  # noqa: E402
from qgis.PyQt.QtGui import QColor  # noqa: E402

TILESETS = "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"


def collections(url: str, username: str, key: str) -> dict[str, bool]:
    """The collection ids, and whether each has vector tiles, read as any client would."""
    # The server under test, given by the test: http only.
    request = urllib.request.Request(  # noqa: S310
        url + "/collections", headers={"Accept": "application/json"}
    )
    manager = urllib.request.HTTPPasswordMgrWithDefaultRealm()
    manager.add_password(None, url, username, key)
    opener = urllib.request.build_opener(urllib.request.HTTPBasicAuthHandler(manager))
    with opener.open(request, timeout=60) as answer:
        listed = json.load(answer)["collections"]
    return {c["id"]: any(link["rel"] == TILESETS for link in c["links"]) for c in listed}


def basic_auth_config(username: str, key: str) -> str:
    """What the officer enters in Settings > Options > Authentication: method Basic."""
    manager = QgsApplication.authManager()
    manager.setMasterPassword("qgis-test-master-password", True)
    config = QgsAuthMethodConfig("Basic")
    config.setName("civop")
    config.setConfig("username", username)
    config.setConfig("password", key)
    ok, stored = manager.storeAuthenticationConfig(config)
    if not ok:
        raise RuntimeError("QGIS did not store the authentication configuration")
    return str(stored.id())


def features_layer(url: str, collection: str, authcfg: str) -> QgsVectorLayer:
    uri = QgsDataSourceUri()
    uri.setParam("url", url)
    uri.setParam("typename", collection)
    uri.setAuthConfigId(authcfg)
    return QgsVectorLayer(uri.uri(False), collection, "OAPIF")


def tiles_layer(url: str, collection: str, authcfg: str) -> QgsVectorTileLayer:
    template = f"{url}/collections/{collection}/tiles/WebMercatorQuad/{{z}}/{{x}}/{{y}}"
    uri = QgsDataSourceUri()
    uri.setParam("type", "xyz")
    uri.setParam("url", template)
    uri.setParam("zmin", "0")
    uri.setParam("zmax", "14")
    uri.setAuthConfigId(authcfg)
    return QgsVectorTileLayer(bytes(uri.encodedUri()).decode(), f"{collection} tiles")


def render(layers: list, extent: QgsRectangle, path: str | None, size: int = 800) -> int:
    """Draw the layers (the first on top) over ``extent`` (EPSG:3857) on white, to ``path``
    when given; the number of pixels drawn (of every other row and column)."""
    settings = QgsMapSettings()
    settings.setLayers(layers)
    settings.setDestinationCrs(QgsCoordinateReferenceSystem("EPSG:3857"))
    settings.setExtent(extent)
    settings.setOutputSize(QSize(size, size))
    settings.setBackgroundColor(QColor(255, 255, 255))
    job = QgsMapRendererSequentialJob(settings)
    job.start()
    job.waitForFinished()
    image = job.renderedImage()
    if path:
        image.save(path, "PNG")
    white = QColor(255, 255, 255).rgb()
    drawn = 0
    for y in range(0, image.height(), 2):
        for x in range(0, image.width(), 2):
            if image.pixel(x, y) != white:
                drawn += 1
    return drawn


def main() -> int:
    url, username, key, png = sys.argv[1:5]
    app = QgsApplication([], False)
    app.initQgis()
    report: dict = {"qgis": Qgis.QGIS_VERSION, "features": {}, "tiles": {}}
    authcfg = basic_auth_config(username, key)
    project = QgsProject.instance()
    to_web = QgsCoordinateTransform(
        QgsCoordinateReferenceSystem("EPSG:4326"),
        QgsCoordinateReferenceSystem("EPSG:3857"),
        project,
    )
    extent = QgsRectangle()
    feature_layers = []
    described = collections(url, username, key)
    for collection in described:
        layer = features_layer(url, collection, authcfg)
        found: dict = {"valid": layer.isValid()}
        if layer.isValid():
            count = sum(1 for _ in layer.getFeatures())
            found.update(
                count=count,
                geometry=QgsWkbTypes.displayString(layer.wkbType()),
                fields={f.name(): f.typeName() for f in layer.fields()},
            )
            if count:
                extent.combineExtentWith(to_web.transformBoundingBox(layer.extent()))
            feature_layers.append(layer)
            project.addMapLayer(layer)
        else:
            found["error"] = layer.error().summary()
        report["features"][collection] = found
    if extent.isEmpty():
        extent = QgsRectangle(2.5e6, 3.3e5, 3.3e6, 1.0e6)
    extent.scale(1.1)
    # Areas at the bottom, points on top: the collections are listed sectors first.
    report["features_png_pixels"] = render(feature_layers[::-1], extent, png)
    tile_layers = []
    for collection in (name for name, tiled in described.items() if tiled):
        layer = tiles_layer(url, collection, authcfg)
        found = {"valid": layer.isValid()}
        if layer.isValid():
            project.addMapLayer(layer)
            tile_layers.append(layer)
            # Each layer drawn alone: a tile refused (401) or empty draws nothing.
            found["pixels"] = render([layer], extent, None, size=256)
        report["tiles"][collection] = found
    tiles_png = png.removesuffix(".png") + "-tiles.png"
    report["tiles_png_pixels"] = render(tile_layers[::-1], extent, tiles_png)
    report["pngs"] = [png, tiles_png]
    print(json.dumps(report))
    app.exitQgis()
    return 0


if __name__ == "__main__":
    sys.exit(main())
