/* Drawing a record's place on a map (Leaflet with Leaflet-Geoman) in the workspace.

   The coordinates field is what the form sends: one "longitude, latitude" per line. The map
   draws what the field holds, and what is drawn or moved on the map is written back into the
   field (which then tells htmx it changed: a patrol route is checked for conflicts at once).
   A route's conflicts (the fragment #route-conflicts) are shown on the map too.
   No inline script, no eval: the settings come from the map element's data-settings. */
(function () {
  "use strict";

  var RED = "#b10e1e";

  // Read with the user's token (static/viewer/signed-in-tiles.js).
  var authorised = window.civopBasemap.signedInFetch;

  // The basemap the service serves from its file; none: a plain background (the map still
  // draws and the coordinates say where).
  function addBasemap(map) {
    authorised("/basemap")
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (spec) {
        if (!spec || spec.vector || !spec.tiles || !spec.tiles.length) return;
        new window.civopBasemap.SignedInTiles(spec.tiles[0], {
          maxNativeZoom: spec.maxzoom,
          minNativeZoom: spec.minzoom,
          attribution: spec.attribution || "",
        }).addTo(map);
      })
      .catch(function () {});
  }

  // ---------------------------------------------------------------------------------------
  // The coordinates field <-> shapes on the map
  // ---------------------------------------------------------------------------------------

  function parse(text) {
    var points = [];
    (text || "").split(/\r?\n/).forEach(function (line) {
      var parts = line.replace(/,/g, " ").trim().split(/\s+/);
      if (parts.length !== 2) return;
      var lon = Number(parts[0]);
      var lat = Number(parts[1]);
      if (isFinite(lon) && isFinite(lat) && parts[0] !== "" && parts[1] !== "") {
        points.push(L.latLng(lat, lon));
      }
    });
    return points;
  }

  function format(latlngs) {
    return latlngs
      .map(function (p) {
        return p.lng.toFixed(6) + ", " + p.lat.toFixed(6);
      })
      .join("\n");
  }

  function pointsOf(layer) {
    if (layer instanceof L.Marker || layer instanceof L.CircleMarker) return [layer.getLatLng()];
    var latlngs = layer.getLatLngs();
    if (layer instanceof L.Polygon) latlngs = latlngs[0];
    return latlngs.slice();
  }

  function shapeFor(points, shapes) {
    if (!points.length) return null;
    if (shapes === "line") return points.length >= 2 ? L.polyline(points) : null;
    if (points.length === 1) return L.marker(points[0]);
    if (shapes === "point") return null;
    if (points.length >= 3) return L.polygon(points);
    return null;
  }

  // ---------------------------------------------------------------------------------------
  // One drawing map
  // ---------------------------------------------------------------------------------------

  function start(element) {
    if (element.civopMap) return;
    var settings = JSON.parse(element.getAttribute("data-settings"));
    var field = document.getElementById(element.getAttribute("data-field"));
    var bbox = settings.bbox;
    var map = L.map(element, { keyboard: true, zoomSnap: 0.5 });
    element.civopMap = map;
    map.fitBounds([
      [bbox[1], bbox[0]],
      [bbox[3], bbox[2]],
    ]);
    addBasemap(map);
    var conflicts = L.layerGroup().addTo(map);
    var drawn = null;
    var writing = false;

    function follow(layer) {
      layer.on("pm:edit pm:dragend pm:markerdragend pm:vertexremoved", function () {
        write(layer);
      });
    }

    function write(layer) {
      writing = true;
      field.value = layer ? format(pointsOf(layer)) : "";
      field.dispatchEvent(new Event("change", { bubbles: true }));
      writing = false;
    }

    function show() {
      if (drawn) map.removeLayer(drawn);
      drawn = shapeFor(parse(field ? field.value : ""), settings.shapes);
      if (!drawn) return;
      drawn.addTo(map);
      if (settings.editable) follow(drawn);
      if (drawn.getBounds) map.fitBounds(drawn.getBounds(), { maxZoom: 13, padding: [30, 30] });
      else map.setView(drawn.getLatLng(), Math.max(map.getZoom(), 11));
    }

    show();
    if (!settings.editable || !field) return;

    map.pm.setLang("civop", settings.geoman, "en");
    map.pm.addControls({
      position: "topleft",
      drawMarker: settings.shapes !== "line",
      drawPolygon: settings.shapes === "point_or_area" || settings.shapes === "area",
      drawPolyline: settings.shapes === "line",
      drawRectangle: false,
      drawCircle: false,
      drawCircleMarker: false,
      drawText: false,
      cutPolygon: false,
      rotateMode: false,
      editMode: true,
      dragMode: true,
      removalMode: true,
    });
    map.pm.setGlobalOptions({ snappable: false });
    // Geoman titles the box around each button: the button itself is named for screen readers
    // and for who looks buttons up by name.
    element.querySelectorAll(".button-container[title]").forEach(function (box) {
      var button = box.querySelector(".leaflet-buttons-control-button");
      if (button) button.setAttribute("aria-label", box.getAttribute("title"));
    });

    // A route is checked while it is drawn, from its second point on.
    map.on("pm:drawstart", function (event) {
      var working = event.workingLayer;
      if (!working || !(working instanceof L.Polyline) || settings.shapes !== "line") return;
      working.on("pm:vertexadded", function () {
        var points = working.getLatLngs();
        if (points.length >= 2) {
          writing = true;
          field.value = format(points);
          field.dispatchEvent(new Event("change", { bubbles: true }));
          writing = false;
        }
      });
    });
    // One shape a record: a new one replaces the one drawn before.
    map.on("pm:create", function (event) {
      if (drawn && drawn !== event.layer) map.removeLayer(drawn);
      drawn = event.layer;
      follow(drawn);
      write(drawn);
    });
    map.on("pm:remove", function (event) {
      if (event.layer === drawn) {
        drawn = null;
        write(null);
      }
    });
    // Typed coordinates redraw the shape.
    field.addEventListener("change", function () {
      if (!writing) show();
    });

    element.civopConflicts = function (layer) {
      conflicts.clearLayers();
      if (!layer) return;
      layer.features.forEach(function (feature) {
        if (!feature.properties || feature.properties.role !== "conflict") return;
        var p = feature.properties;
        L.geoJSON(feature, {
          pointToLayer: function (point, latlng) {
            return L.circleMarker(latlng, { radius: 8, color: RED, weight: 3, fillOpacity: 0.4 });
          },
          style: function () {
            return { color: RED, weight: 3, fillOpacity: 0.25 };
          },
          pmIgnore: true,
        })
          .bindTooltip(settings.conflict + ": " + (p.name || p.title || "") + " (" + p.distance_km + " km)")
          .addTo(conflicts);
      });
    };
  }

  function startAll(root) {
    var scope = root && root.querySelectorAll ? root : document;
    var maps = scope.matches && scope.matches("[data-draw-map]") ? [scope] : [];
    Array.prototype.push.apply(maps, scope.querySelectorAll("[data-draw-map]"));
    maps.forEach(start);
  }

  function showConflicts(panel) {
    var form = panel.closest("form");
    var element = form && form.querySelector("[data-draw-map]");
    if (!element || !element.civopConflicts) return;
    var raw = panel.getAttribute("data-conflicts");
    element.civopConflicts(raw ? JSON.parse(raw) : null);
  }

  document.addEventListener("htmx:load", function (event) {
    startAll(event.detail.elt);
    var panel = event.detail.elt.id === "route-conflicts" ? event.detail.elt : null;
    if (panel) showConflicts(panel);
  });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () {
      startAll(document);
    });
  } else {
    startAll(document);
  }
})();
