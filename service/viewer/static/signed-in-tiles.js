/* The basemap civop serves from its own file answers only signed-in users, and an <img> cannot
 * send the user's token: each tile is fetched with it and shown from the answer. One layer for
 * every map that draws that basemap: the map page (civop-map.js) and the workspace's maps
 * (workspace-map.js, draw.js). Loaded after Leaflet; no inline script, no eval. */
(function () {
  "use strict";

  if (!window.L) return;

  function token() {
    try {
      return window.sessionStorage.getItem("civop.token");
    } catch (error) {
      return null;
    }
  }

  /** ``url`` fetched with the token of the user signed in in this tab (none: without). */
  function signedInFetch(url) {
    var headers = {};
    if (token()) headers.Authorization = "Bearer " + token();
    return fetch(url, { headers: headers, credentials: "same-origin" });
  }

  /** A tile layer whose tiles are read by ``options.fetchTile(url)`` (by default with the
   * tab's token); a ``fetchTile`` that answers null leaves the tile blank without asking. */
  var SignedInTiles = L.TileLayer.extend({
    options: { fetchTile: signedInFetch },

    createTile: function (coords, done) {
      var tile = document.createElement("img");
      tile.alt = "";
      tile.setAttribute("role", "presentation");
      var answer = this.options.fetchTile(this.getTileUrl(coords));
      if (!answer) {
        L.Util.requestAnimFrame(function () {
          done(null, tile);
        });
        return tile;
      }
      answer
        .then(function (response) {
          return response.ok ? response.blob() : null;
        })
        .then(function (blob) {
          if (!blob || !blob.size) {
            done(null, tile);
            return;
          }
          tile.onload = function () {
            URL.revokeObjectURL(tile.src);
            done(null, tile);
          };
          tile.src = URL.createObjectURL(blob);
        })
        .catch(function (error) {
          done(error, tile);
        });
      return tile;
    },
  });

  window.civopBasemap = { SignedInTiles: SignedInTiles, signedInFetch: signedInFetch };
})();
