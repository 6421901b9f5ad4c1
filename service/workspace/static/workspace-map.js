/* The workspace's small maps (Leaflet, served by the service): a record's geometry, and the
 * coordinates fieldset (templates/macros/forms.html) where a click on the map, decimal degrees,
 * an MGRS reference (the mgrs package) or a place from the gazetteer set the same point. */
(function () {
  "use strict";

  function config() {
    try { return JSON.parse(document.body.dataset.map || "{}"); } catch (e) { return {}; }
  }

  function baseMap(element, options) {
    var cfg = config();
    var map = L.map(element, Object.assign({ scrollWheelZoom: false }, options || {}));
    if (cfg.basemap) {
      // The basemap civop serves from its own file answers only signed-in users
      // (static/viewer/signed-in-tiles.js); another one is read as any tile server.
      var own = cfg.basemap.url.indexOf("/basemap/") === 0;
      (own ? function (url, o) { return new window.civopBasemap.SignedInTiles(url, o); } : L.tileLayer)(cfg.basemap.url, {
        minZoom: cfg.basemap.minZoom || 0,
        maxZoom: cfg.basemap.maxZoom || 18,
        maxNativeZoom: cfg.basemap.maxZoom || 18,
        attribution: cfg.basemap.attribution || "",
      }).addTo(map);
    }
    if (cfg.bounds) map.fitBounds(cfg.bounds);
    return map;
  }

  function recordMaps(root) {
    root.querySelectorAll("[data-record-map]").forEach(function (element) {
      if (element.dataset.ready) return;
      element.dataset.ready = "1";
      var geometry = JSON.parse(element.dataset.geometry);
      var map = baseMap(element);
      var layer = L.geoJSON(geometry, {
        pointToLayer: function (feature, latlng) {
          return L.circleMarker(latlng, { radius: 8, color: "#0b0c0c", weight: 2, fillColor: "#d4351c", fillOpacity: 0.9 });
        },
        style: { color: "#1d4f91", weight: 3 },
      }).addTo(map);
      map.fitBounds(layer.getBounds(), { maxZoom: 13, padding: [20, 20] });
    });
  }

  function mgrsOf(lat, lon) {
    if (!window.mgrs) return "";
    try { return window.mgrs.forward([lon, lat], 5); } catch (e) { return ""; }
  }

  function mgrsPoint(text) {
    if (!window.mgrs) return null;
    var plain = text.replace(/\s+/g, "").toUpperCase();
    if (!/^\d{1,2}[C-HJ-NP-X][A-HJ-NP-Z]{2}(\d{2}|\d{4}|\d{6}|\d{8}|\d{10})$/.test(plain)) return null;
    try {
      var lonLat = window.mgrs.toPoint(plain);
      return { lat: lonLat[1], lon: lonLat[0] };
    } catch (e) { return null; }
  }

  var maps = [];

  function round(value) { return Math.round(value * 1e6) / 1e6; }

  function coordinates(root) {
    root.querySelectorAll("[data-coordinates]").forEach(function (fieldset) {
      if (fieldset.dataset.ready) return;
      fieldset.dataset.ready = "1";
      var lat = fieldset.querySelector("input[name=latitude]");
      var lon = fieldset.querySelector("input[name=longitude]");
      var grid = fieldset.querySelector("input[data-mgrs]");
      var gridProblem = fieldset.querySelector("[data-mgrs-problem]");
      var element = fieldset.querySelector("[data-pick-map]");
      var map = null, marker = null;

      function show(from) {
        var y = parseFloat(lat.value), x = parseFloat(lon.value);
        var valid = isFinite(y) && isFinite(x) && Math.abs(y) <= 90 && Math.abs(x) <= 180;
        if (valid && from !== "mgrs" && grid) grid.value = mgrsOf(y, x);
        if (!map) return;
        if (!valid) { if (marker) { map.removeLayer(marker); marker = null; } return; }
        if (!marker) marker = L.marker([y, x], { keyboard: false }).addTo(map);
        marker.setLatLng([y, x]);
        if (from !== "click") map.setView([y, x], Math.max(map.getZoom(), 11));
      }

      if (element) {
        map = baseMap(element);
        maps.push(map);
        map.on("click", function (event) {
          lat.value = round(event.latlng.lat);
          lon.value = round(event.latlng.lng);
          show("click");
          lat.dispatchEvent(new Event("change", { bubbles: true }));
        });
      }
      lat.addEventListener("change", function () { show("input"); });
      lon.addEventListener("change", function () { show("input"); });
      if (grid) {
        grid.addEventListener("change", function () {
          if (!grid.value.trim()) return;
          var point = mgrsPoint(grid.value);
          if (gridProblem) gridProblem.hidden = !!point;
          if (!point) return;
          lat.value = round(point.lat);
          lon.value = round(point.lon);
          show("mgrs");
        });
      }
      fieldset.addEventListener("civop:place", function (event) {
        lat.value = round(event.detail.lat);
        lon.value = round(event.detail.lon);
        show("place");
      });
      show("start");
    });
  }

  /* The gazetteer: a place typed by its name, chosen from the service's answer. */
  function placeSearch(root) {
    root.querySelectorAll("[data-place-search]").forEach(function (box) {
      if (box.dataset.ready) return;
      box.dataset.ready = "1";
      var input = box.querySelector("input");
      var list = box.querySelector("[data-place-results]");
      var timer = null;
      function search() {
        var text = input.value.trim();
        list.innerHTML = "";
        if (text.length < 2) return;
        fetch("/api/places?limit=8&q=" + encodeURIComponent(text), {
          headers: { Authorization: "Bearer " + sessionStorage.getItem("civop.token") },
        }).then(function (answer) { return answer.ok ? answer.json() : { features: [] }; })
          .then(function (body) {
            list.innerHTML = "";
            (body.features || []).forEach(function (feature) {
              if (!feature.geometry || feature.geometry.type !== "Point") return;
              var item = document.createElement("li");
              var button = document.createElement("button");
              button.type = "button";
              button.className = "ws-button ws-button-secondary";
              var p = feature.properties || {};
              button.textContent = [p.name, p.admin2, p.admin1].filter(Boolean).join(", ");
              button.addEventListener("click", function () {
                var fieldset = box.closest("form").querySelector("[data-coordinates]");
                fieldset.dispatchEvent(new CustomEvent("civop:place", {
                  detail: { lon: feature.geometry.coordinates[0], lat: feature.geometry.coordinates[1] },
                }));
                list.innerHTML = "";
                input.value = button.textContent;
              });
              item.appendChild(button);
              list.appendChild(item);
            });
          });
      }
      input.addEventListener("input", function () {
        clearTimeout(timer);
        timer = setTimeout(search, 350);
      });
      input.addEventListener("keydown", function (event) {
        if (event.key === "Enter") { event.preventDefault(); clearTimeout(timer); search(); }
      });
    });
  }

  function start(root) {
    if (!window.L) return;
    recordMaps(root);
    coordinates(root);
    placeSearch(root);
  }
  document.addEventListener("htmx:load", function (event) {
    start(event.detail.elt.parentElement || event.detail.elt);
  });
  if (document.readyState !== "loading") start(document); else document.addEventListener("DOMContentLoaded", function () { start(document); });
  window.civopWorkspaceMap = { mgrsPoint: mgrsPoint, mgrsOf: mgrsOf, maps: maps };
})();
