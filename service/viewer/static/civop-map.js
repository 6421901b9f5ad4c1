/*
 * civop: the analysts' map.
 *
 * The page (built by service/viewer/page.py with Folium) holds a Leaflet map, one feature group
 * per layer, the layer control and the panels; it holds no data. This script signs the user in
 * (POST /auth/token, token kept in sessionStorage), then fills each group from the API with the
 * user's token, so every layer shows exactly what the access rules let this user see:
 *
 *   sectors, IDP sites, bases, projects, actors   GeoJSON from /api/<collection>
 *   incidents                                      heat tiles (/layers/heat/...) when zoomed out
 *                                                  or crowded, else vector tiles (VectorGrid)
 *   patrol routes                                  vector tiles
 *   risk overlay, hot spots                        /api/analysis/risk/tiles, /api/analysis/hotspots
 *   open alerts                                    /api/alerts (those not closed)
 *
 * It polls /layers/versions and redraws a layer whose data changed, so new reports appear
 * without a reload; the alerts layer also follows the live stream (/api/stream) and redraws as
 * soon as an alert is raised, acknowledged or closed. window.civop exposes what the tests and
 * the benchmark read.
 */
(function () {
  'use strict';

  var TOKEN_KEY = 'civop.token';
  var DAY_MS = 86400000;

  // VectorGrid's canvas tiles were written for Leaflet 1.7: on a click they call
  // DomEvent.fakeStop (gone since 1.8), and clicks that hit no feature reach nobody (1.9 has the
  // map ignore DOM events from canvases). A feature hit gets the event (and the VectorGrid with
  // it); any other click goes to the map, as with Leaflet's own canvas renderer.
  if (L.Canvas && L.Canvas.Tile) {
    L.Canvas.Tile.include({
      _onClick: function (e) {
        if (!this._map) return;
        var point = this._map.mouseEventToLayerPoint(e).subtract(this.getOffset());
        var hit = null;
        for (var id in this._layers) {
          var layer = this._layers[id];
          if (layer.options.interactive && layer._containsPoint(point) && !this._map._draggableMoved(layer)) {
            hit = layer;
          }
        }
        if (!hit) {
          this._map._fireDOMEvent(e, e.type);
          return;
        }
        // A tile's feature has no latlng of its own: place the event where the pointer is.
        var containerPoint = this._map.mouseEventToContainerPoint(e);
        var layerPoint = this._map.containerPointToLayerPoint(containerPoint);
        hit.fire(
          e.type,
          {
            originalEvent: e,
            containerPoint: containerPoint,
            layerPoint: layerPoint,
            latlng: this._map.layerPointToLatLng(layerPoint),
          },
          true
        );
      },
    });
  }

  var state = {
    map: null,
    groups: {},
    config: null,
    token: null,
    me: null,
    range: { from: '', to: '' },
    allTime: false,
    versions: null,
    layers: {},
    pollTimer: null,
    alertStream: null,
    started: false,
  };

  var civop = (window.civop = {
    /** Layer name -> milliseconds from navigation start to its first drawing. */
    ready: {},
    /** Layer name -> how many times it has been drawn. */
    drawn: {},
    /** Layer name -> record ids drawn now (points layers, vector tiles). */
    visibleIds: visibleIds,
    /** How many times the alerts layer was redrawn because the live stream said so. */
    alertEvents: 0,
    /** What the incidents layer draws now: "heat" or "points". */
    incidentsMode: function () {
      return state.layers.incidents ? state.layers.incidents.mode : null;
    },
    state: state,
  });

  // ---------------------------------------------------------------------------------------
  // Small helpers
  // ---------------------------------------------------------------------------------------

  function AuthError() {
    this.name = 'AuthError';
  }

  function el(tag, attributes, children) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) {
      var value = attributes[name];
      if (value === null || value === undefined || value === false) return;
      if (name === 'text') node.textContent = value;
      else node.setAttribute(name, value === true ? '' : value);
    });
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) return;
      node.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
    });
    return node;
  }

  var WORDS = { ingo: 'INGO', ngo: 'NGO', un_agency: 'UN agency' };

  function label(value) {
    if (value === null || value === undefined) return '';
    if (WORDS[value]) return WORDS[value];
    var text = String(value).replace(/_/g, ' ');
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  function when(value) {
    if (!value) return '';
    var moment = new Date(value);
    if (isNaN(moment.getTime())) return String(value);
    return moment.toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
  }

  function number(value) {
    return value === null || value === undefined ? '' : Number(value).toLocaleString('en');
  }

  function isoDay(moment) {
    return new Date(moment).toISOString().slice(0, 10);
  }

  function sinceStart() {
    return Math.round(performance.now());
  }

  function pathOf(href) {
    var url = new URL(href, window.location.href);
    return url.pathname + url.search;
  }

  function report(error) {
    if (error instanceof AuthError) return;
    status('Something went wrong: ' + (error && error.message ? error.message : error), true);
    console.error('civop map:', error);
  }

  function status(text, isError) {
    var box = document.getElementById('civop-status');
    box.textContent = text;
    box.classList.toggle('civop-error', !!isError);
  }

  /**
   * A layer was drawn. Its first drawing is a performance mark ("civop:drawn:<layer>", in the
   * page's performance timeline from navigation start) and, like every drawing, shows on the
   * root element: data-civop-ready-<layer> holds the mark's milliseconds, data-civop-drawn-<layer>
   * the count. Tools read them without running script in the page (its policy forbids eval).
   */
  function markDrawn(name) {
    var root = document.documentElement;
    var attribute = name.replace(/_/g, '-');
    civop.drawn[name] = (civop.drawn[name] || 0) + 1;
    if (civop.ready[name] === undefined) {
      var mark = performance.mark ? performance.mark('civop:drawn:' + name) : null;
      civop.ready[name] = mark ? Math.round(mark.startTime) : sinceStart();
      root.setAttribute('data-civop-ready-' + attribute, String(civop.ready[name]));
    }
    root.setAttribute('data-civop-drawn-' + attribute, String(civop.drawn[name]));
    document.dispatchEvent(new CustomEvent('civop:drawn', { detail: { layer: name } }));
  }

  // ---------------------------------------------------------------------------------------
  // The API, with the user's token
  // ---------------------------------------------------------------------------------------

  function authHeaders() {
    return { Authorization: 'Bearer ' + state.token };
  }

  function api(path, options) {
    options = options || {};
    var init = L.extend({}, options, { headers: L.extend({}, options.headers, authHeaders()) });
    return fetch(path, init).then(function (response) {
      if (response.status === 401) {
        signOut('Your session has ended: sign in again.');
        throw new AuthError();
      }
      return response;
    });
  }

  function apiJson(path) {
    return api(path).then(function (response) {
      if (!response.ok) {
        return response.text().then(function (body) {
          throw new Error(path.split('?')[0] + ' answered ' + response.status + ': ' + body.slice(0, 200));
        });
      }
      return response.json();
    });
  }

  /** Every feature of a list, following its next links. */
  function allFeatures(path) {
    var features = [];
    function page(url) {
      return apiJson(url).then(function (body) {
        features = features.concat(body.features || []);
        var next = (body.links || []).filter(function (link) {
          return link.rel === 'next';
        })[0];
        return next ? page(pathOf(next.href)) : features;
      });
    }
    return page(path);
  }

  function dateQuery() {
    var from = state.range.from;
    var to = state.range.to;
    if (!from && !to) return '';
    return 'datetime=' + (from || '..') + '/' + (to || '..');
  }

  function withQuery(path, parts) {
    var query = parts.filter(Boolean).join('&');
    return query ? path + (path.indexOf('?') < 0 ? '?' : '&') + query : path;
  }

  // ---------------------------------------------------------------------------------------
  // Signing in and out
  // ---------------------------------------------------------------------------------------

  function showLogin(message) {
    document.getElementById('civop-login').hidden = false;
    document.getElementById('civop-login-error').textContent = message || '';
    document.getElementById('civop-username').focus();
  }

  function wireLogin() {
    var form = document.getElementById('civop-login-form');
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      var body = new URLSearchParams();
      body.set('username', document.getElementById('civop-username').value);
      body.set('password', document.getElementById('civop-password').value);
      var button = document.getElementById('civop-login-submit');
      button.disabled = true;
      fetch('/auth/token', { method: 'POST', body: body })
        .then(function (response) {
          return response.json().then(function (answer) {
            if (!response.ok) throw new Error(answer.detail || 'sign-in refused');
            return answer;
          });
        })
        .then(function (answer) {
          state.token = answer.access_token;
          sessionStorage.setItem(TOKEN_KEY, state.token);
          document.getElementById('civop-password').value = '';
          document.getElementById('civop-login').hidden = true;
          enter();
        })
        .catch(function (error) {
          document.getElementById('civop-login-error').textContent = String(error.message || error);
        })
        .then(function () {
          button.disabled = false;
        });
    });
    document.getElementById('civop-logout').addEventListener('click', function () {
      signOut('');
    });
  }

  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    state.token = null;
    state.me = null;
    state.versions = null;
    if (state.pollTimer) clearTimeout(state.pollTimer);
    state.pollTimer = null;
    stopFollowingAlerts();
    Object.keys(state.layers).forEach(function (name) {
      state.layers[name].clear();
    });
    state.map.closePopup();
    hideRecordDetails();
    document.getElementById('civop-whoami').textContent = '';
    showLogin(message);
  }

  /** Signed in: the default period, every layer that is switched on, and who we are. */
  function enter() {
    document.getElementById('civop-login').hidden = true;
    if (!state.range.from && !state.range.to && !state.allTime) setPeriod(90, false);
    Object.keys(state.layers).forEach(function (name) {
      state.layers[name].invalidate();
    });
    poll();
    followAlerts();
    apiJson('/auth/me')
      .then(function (who) {
        state.me = who;
        var scope = who.sector_scope ? ', limited to ' + who.sector_scope.length + ' area(s)' : '';
        document.getElementById('civop-whoami').textContent =
          who.username + ' (' + who.role + (who.cleared_restricted ? ', cleared' : '') + scope + ')';
      })
      .catch(report);
  }

  // ---------------------------------------------------------------------------------------
  // Popups: the record's key fields, fetched from the API, and a link to it
  // ---------------------------------------------------------------------------------------

  var RECORDS = {
    idp_sites: {
      noun: 'IDP site',
      title: function (p) {
        return p.name;
      },
      rows: [
        ['Type', 'site_type', label],
        ['Status', 'status', label],
        ['Population', 'population_individuals', number],
        ['Households', 'population_households', number],
        ['Population as of', 'population_date'],
        ['Description', 'description'],
      ],
    },
    incidents: {
      noun: 'Incident',
      title: function (p) {
        return label(p.category);
      },
      rows: [
        ['Occurred', 'occurred_at', when],
        ['Reported', 'reported_at', when],
        ['Severity', 'severity', function (v) {
          return v + ' of 5';
        }],
        ['Killed', 'killed', number],
        ['Injured', 'injured', number],
        ['Displaced', 'displaced', number],
        ['Source', 'source'],
        ['Source grading', function (p) {
          return (p.source_reliability || '') + (p.source_credibility || '');
        }],
        ['Location', 'location_precision', label],
        ['Description', 'description'],
      ],
    },
    actors: {
      noun: 'Actor',
      title: function (p) {
        return p.name + (p.acronym ? ' (' + p.acronym + ')' : '');
      },
      rows: [
        ['Category', 'category', label],
        ['Humanitarian', 'humanitarian', function (v) {
          return v ? 'yes' : 'no';
        }],
        ['Focal point', 'focal_point'],
        ['Phone', 'phone'],
        ['Email', 'email'],
        ['Description', 'description'],
      ],
    },
    projects: {
      noun: 'Project',
      title: function (p) {
        return p.title;
      },
      rows: [
        ['Kind', 'kind', label],
        ['Status', 'status', label],
        ['Budget (USD)', 'budget_usd', number],
        ['Beneficiaries', 'beneficiaries', number],
        ['Start', 'start_date'],
        ['End', 'end_date'],
        ['Description', 'description'],
      ],
    },
    patrols: {
      noun: 'Patrol',
      title: function (p) {
        return p.unit;
      },
      rows: [
        ['Type', 'patrol_type', label],
        ['State', 'state', label],
        ['Start', 'start_at', when],
        ['End', 'end_at', when],
        ['Description', 'description'],
      ],
    },
    bases: {
      noun: 'Base',
      title: function (p) {
        return p.name;
      },
      rows: [
        ['Kind', 'base_kind', label],
        ['Unit', 'unit'],
      ],
    },
    sectors: {
      noun: 'Area of responsibility',
      title: function (p) {
        return p.name;
      },
      rows: [['Level', 'level', label]],
    },
    alerts: {
      noun: 'Alert',
      title: function (p) {
        return p.title || 'Alert';
      },
      rows: [
        ['Kind', 'kind', label],
        ['Status', 'status', label],
        ['Severity', 'severity', function (v) {
          return v + ' of 5';
        }],
        ['Triggered', 'triggered_at', when],
        ['Acknowledged', 'acknowledged_at', when],
        ['Description', 'description'],
      ],
    },
  };

  function renderRecord(collection, feature) {
    var spec = RECORDS[collection];
    var p = feature.properties || {};
    var title = spec.title(p);
    var rows = [];
    spec.rows.forEach(function (row) {
      var value = typeof row[1] === 'function' ? row[1](p) : p[row[1]];
      if (value === null || value === undefined || value === '') return;
      if (row[2] && typeof row[1] !== 'function') value = row[2](value);
      rows.push(el('tr', {}, [el('th', { text: row[0] }), el('td', { text: String(value) })]));
    });
    return el('div', { class: 'civop-record', 'data-collection': collection, 'data-id': feature.id }, [
      el('div', { class: 'civop-record-kind', text: spec.noun }),
      el('h3', { class: 'civop-record-title', text: title || spec.noun + ' (name withheld)' }),
      p.generalised
        ? el('p', {
            class: 'civop-generalised',
            text:
              'Location generalised to a ' + state.config.generaliseCellKm + ' km cell; sensitive fields withheld.',
          })
        : null,
      el('table', {}, rows),
      detailsButton(collection, feature),
    ]);
  }

  // Every field of a record, in a panel of this page: the record was read with this tab's
  // sign-in, so nothing else (a new tab, a link carrying the token) is needed to see it.
  var details = { url: null };

  function detailsButton(collection, feature) {
    var button = el('button', { type: 'button', class: 'civop-link-button', text: 'Show all details' });
    button.addEventListener('click', function () {
      showRecordDetails(collection, feature);
    });
    return button;
  }

  function detailValue(key, value) {
    if (typeof value === 'number') return number(value);
    if (typeof value === 'boolean') return value ? 'Yes' : 'No';
    if (typeof value === 'object') return JSON.stringify(value);
    if (/_at$/.test(key)) return when(value);
    return String(value);
  }

  function place(geometry) {
    if (!geometry) return 'none';
    if (geometry.type === 'Point') {
      return geometry.coordinates[1].toFixed(5) + ', ' + geometry.coordinates[0].toFixed(5) + ' (lat, lon)';
    }
    return label(geometry.type.replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase());
  }

  function showRecordDetails(collection, feature) {
    var spec = RECORDS[collection];
    var p = feature.properties || {};
    var rows = [el('tr', {}, [el('th', { text: 'Id' }), el('td', { text: String(feature.id) })])];
    Object.keys(p).forEach(function (key) {
      var value = p[key];
      if (key === 'id' || value === null || value === undefined || value === '') return;
      rows.push(el('tr', {}, [el('th', { text: label(key) }), el('td', { text: detailValue(key, value) })]));
    });
    rows.push(el('tr', {}, [el('th', { text: 'Location' }), el('td', { text: place(feature.geometry) })]));
    if (details.url) URL.revokeObjectURL(details.url);
    details.url = URL.createObjectURL(
      new Blob([JSON.stringify(feature, null, 2)], { type: 'application/geo+json' })
    );
    var close = el('button', { type: 'button', class: 'civop-details-close', text: 'Close' });
    close.addEventListener('click', hideRecordDetails);
    var heading = el('h2', { tabindex: '-1', text: spec.noun + ': ' + (spec.title(p) || '(name withheld)') });
    var panel = document.getElementById('civop-record-details');
    panel.replaceChildren(
      el('div', { class: 'civop-details-head' }, [heading, close]),
      el('table', {}, rows),
      el('a', {
        href: details.url,
        download: collection + '-' + feature.id + '.geojson',
        text: 'Download the record as GeoJSON',
      })
    );
    panel.hidden = false;
    heading.focus();
  }

  function hideRecordDetails() {
    var panel = document.getElementById('civop-record-details');
    panel.hidden = true;
    panel.replaceChildren();
    if (details.url) URL.revokeObjectURL(details.url);
    details.url = null;
  }

  function openRecordPopup(collection, id, latlng) {
    var box = el('div', { class: 'civop-popup' }, [el('p', { class: 'civop-muted', text: 'Loading…' })]);
    var popup = L.popup({ maxWidth: 340, minWidth: 220, autoPanPadding: [40, 40] })
      .setLatLng(latlng)
      .setContent(box)
      .openOn(state.map);
    apiJson('/api/' + collection + '/' + encodeURIComponent(id))
      .then(function (feature) {
        box.replaceChildren(renderRecord(collection, feature));
        popup.update();
      })
      .catch(function (error) {
        if (error instanceof AuthError) return;
        box.replaceChildren(el('p', { class: 'civop-error', text: 'This record is not available.' }));
        popup.update();
      });
    return popup;
  }

  function openCellPopup(title, rows, latlng) {
    var table = el(
      'table',
      {},
      rows
        .filter(function (row) {
          return row[1] !== null && row[1] !== undefined;
        })
        .map(function (row) {
          return el('tr', {}, [el('th', { text: row[0] }), el('td', { text: String(row[1]) })]);
        })
    );
    var box = el('div', { class: 'civop-popup civop-record' }, [
      el('div', { class: 'civop-record-kind', text: 'Analysis cell' }),
      el('h3', { class: 'civop-record-title', text: title }),
      table,
    ]);
    L.popup({ maxWidth: 320 }).setLatLng(latlng).setContent(box).openOn(state.map);
  }

  // ---------------------------------------------------------------------------------------
  // Layers. Each one fills its feature group when the group is on the map and its data is
  // stale; invalidate() marks it stale (new data, new period, new user).
  // ---------------------------------------------------------------------------------------

  function Layer(name, draw, clear) {
    this.name = name;
    this.group = state.groups[name];
    this.stale = true;
    this._draw = draw;
    this._clear = clear;
  }

  Layer.prototype.shown = function () {
    return !!this.group && state.map.hasLayer(this.group);
  };

  Layer.prototype.invalidate = function () {
    this.stale = true;
    if (this.shown() && state.token) this.update();
  };

  Layer.prototype.update = function () {
    if (!this.stale || !state.token) return;
    this.stale = false;
    var self = this;
    Promise.resolve()
      .then(function () {
        return self._draw(self);
      })
      .catch(function (error) {
        self.stale = true;
        report(error);
      });
  };

  Layer.prototype.clear = function () {
    this.stale = true;
    if (this._clear) this._clear(this);
    if (this.group) this.group.clearLayers();
  };

  function register(layer) {
    if (layer.group) state.layers[layer.name] = layer;
  }

  // Records as GeoJSON (few of them: hundreds to thousands) --------------------------------

  function circleStyle(fill, radius, stroke) {
    return {
      radius: radius,
      color: stroke || '#ffffff',
      weight: 1.5,
      fillColor: fill,
      fillOpacity: 0.85,
      opacity: 1,
    };
  }

  function siteRadius(population) {
    var rule = state.config.styles.site_radius;
    if (!population) return rule.min;
    return Math.max(rule.min, Math.min(rule.max, Math.sqrt(population) * rule.per_sqrt_person));
  }

  var POINT_STYLES = {
    idp_sites: function (p) {
      var colour = state.config.styles.idp_sites[p.status] || '#0b6e4f';
      return circleStyle(colour, siteRadius(p.population_individuals), '#ffffff');
    },
    actors: function (p) {
      return circleStyle(state.config.styles.actors[p.category] || '#7f7f7f', 6, '#1d1d1d');
    },
    projects: function (p) {
      return circleStyle(state.config.styles.projects[p.status] || '#6a1b9a', 5, '#ffffff');
    },
    bases: function (p) {
      return circleStyle(state.config.styles.bases[p.base_kind] || '#1e5aa8', 6, '#000000');
    },
    alerts: function () {
      return { radius: 11, color: '#e00000', weight: 3, fillColor: '#ffdd00', fillOpacity: 0.6 };
    },
  };

  var AREA_STYLES = {
    alerts: function () {
      // The area is tinted but only its outline takes clicks (civop-map.css): the sites and
      // incidents inside it stay clickable.
      return {
        color: '#e00000',
        weight: 2.5,
        dashArray: '6 4',
        fillColor: '#ffdd00',
        fillOpacity: 0.2,
        className: 'civop-alert-area',
      };
    },
  };

  function recordsLayer(name, options) {
    var pane = options.pane || 'civop-points';
    var layer = new Layer(name, function (self) {
      return allFeatures(options.path || '/api/' + name + '?limit=1000').then(function (features) {
        if (options.keep) features = features.filter(options.keep);
        var shown = L.geoJSON(
          { type: 'FeatureCollection', features: features },
          {
            pane: pane,
            pointToLayer: function (feature, latlng) {
              return L.circleMarker(latlng, L.extend({ pane: pane }, options.style(feature.properties)));
            },
            style: function (feature) {
              // Areas (an actor's zone, a camp's outline) are drawn light, so what lies under
              // them stays visible; options.style describes their point symbol.
              var style = options.style(feature.properties);
              if (!style.fillColor || feature.geometry.type === 'Point') return style;
              if (AREA_STYLES[name]) return AREA_STYLES[name](feature.properties);
              return { color: style.fillColor, weight: 1.5, opacity: 0.9, fillColor: style.fillColor, fillOpacity: 0.2 };
            },
            interactive: options.interactive !== false,
            onEachFeature: function (feature, featureLayer) {
              featureLayer.on('add', function () {
                var path = featureLayer.getElement && featureLayer.getElement();
                if (path) {
                  path.setAttribute('data-collection', name);
                  path.setAttribute('data-id', feature.id);
                  path._civopLayer = featureLayer;
                }
              });
              if (options.interactive === false) return;
              featureLayer.on('click', function (event) {
                L.DomEvent.stopPropagation(event);
                openRecordPopup(name, feature.id, event.latlng);
              });
              if (options.tooltip) featureLayer.bindTooltip(options.tooltip(feature.properties) || '', { sticky: true });
            },
          }
        );
        self.ids = features.map(function (feature) {
          return feature.id;
        });
        self.geojson = shown;
        self.group.clearLayers();
        self.group.addLayer(shown);
        markDrawn(name);
      });
    });
    register(layer);
    return layer;
  }

  // Vector tiles (many records: incidents, patrol routes; analysis tiles) ------------------

  function vectorGrid(url, options) {
    return L.vectorGrid.protobuf(
      url,
      L.extend(
        {
          rendererFactory: L.canvas.tile,
          interactive: true,
          getFeatureId: function (feature) {
            return feature.properties.id || feature.properties.cell;
          },
          fetchOptions: { headers: authHeaders() },
          updateWhenZooming: false,
          keepBuffer: 1,
        },
        options
      )
    );
  }

  /** Put a new tile layer in the group; the previous one goes once the new one has drawn. */
  function swapIn(self, grid, onClick) {
    var previous = self.grid;
    self.grid = grid;
    grid.on('click', function (event) {
      L.DomEvent.stopPropagation(event);
      onClick(event.layer.properties, event.latlng);
    });
    grid.on('load', function () {
      if (previous && self.group.hasLayer(previous)) self.group.removeLayer(previous);
      previous = null;
      if (self.grid === grid) markDrawn(self.name);
    });
    self.group.addLayer(grid);
  }

  function gridIds(grid) {
    var ids = {};
    Object.keys((grid && grid._vectorTiles) || {}).forEach(function (key) {
      Object.keys(grid._vectorTiles[key]._features || {}).forEach(function (id) {
        ids[id] = true;
      });
    });
    return Object.keys(ids);
  }

  function visibleIds(name) {
    var layer = state.layers[name];
    if (!layer) return [];
    if (layer.grid) return gridIds(layer.grid);
    return (layer.ids || []).slice();
  }

  // Incidents: heat where there are too many to draw one by one, points where there are not.
  // Heat tiles are small (counts on a grid) and cached: they also tell how many incidents the
  // view holds, which decides between the two.

  function incidentsLayer() {
    var heatTiles = {};
    var sequence = 0;
    var layer = new Layer(
      'incidents',
      function (self) {
        heatTiles = {};
        return self.redraw(true);
      },
      function (self) {
        heatTiles = {};
        self.grid = null;
        self.heat = null;
        self.mode = null;
      }
    );

    /** The view's heat tiles: [{tile, body}] with body {grid, cells: [[column, row, count]]}. */
    function viewHeat(zoom) {
      var map = state.map;
      var size = 256;
      var bounds = map.getPixelBounds();
      var first = bounds.min.divideBy(size).floor();
      var last = bounds.max.divideBy(size).floor();
      var count = Math.pow(2, zoom);
      var filters = dateQuery();
      var fetches = [];
      for (var x = first.x; x <= last.x; x++) {
        for (var y = first.y; y <= last.y; y++) {
          if (y < 0 || y >= count) continue;
          fetches.push(heatTile(zoom, x, y, ((x % count) + count) % count, filters));
        }
      }
      return Promise.all(fetches);
    }

    function heatTile(z, x, y, wrapped, filters) {
      var path = withQuery('/layers/heat/incidents/' + z + '/' + wrapped + '/' + y, [filters]);
      if (!heatTiles[path]) {
        heatTiles[path] = apiJson(path).catch(function (error) {
          delete heatTiles[path];
          throw error;
        });
      }
      return heatTiles[path].then(function (body) {
        return { tile: { z: z, x: x, y: y }, body: body };
      });
    }

    /** Heat cells as [lat, lng, count], and how many incidents lie inside the view. */
    function cellsOf(tiles, zoom) {
      var map = state.map;
      var view = map.getPixelBounds();
      var points = [];
      var inView = 0;
      tiles.forEach(function (found) {
        var cell = 256 / found.body.grid;
        found.body.cells.forEach(function (c) {
          var pixel = L.point(
            (found.tile.x * found.body.grid + c[0] + 0.5) * cell,
            (found.tile.y * found.body.grid + c[1] + 0.5) * cell
          );
          var at = map.unproject(pixel, zoom);
          points.push([at.lat, at.lng, c[2]]);
          if (view.contains(pixel)) inView += c[2];
        });
      });
      return { points: points, inView: inView };
    }

    /** Draw the view: heat when zoomed out or crowded, points otherwise. */
    layer.redraw = function (anew) {
      var map = state.map;
      var zoom = Math.round(map.getZoom());
      var config = state.config;
      var mine = ++sequence;
      if (zoom > config.heatMaxZoom) {
        layer.inView = null;
        layer.showPoints(anew);
        return Promise.resolve();
      }
      return viewHeat(zoom).then(function (tiles) {
        if (mine !== sequence || !layer.shown()) return;
        var found = cellsOf(tiles, zoom);
        layer.inView = found.inView;
        if (zoom >= config.pointsFromZoom && found.inView <= config.pointsMax) {
          layer.showPoints(anew);
        } else {
          layer.showHeat(found.points, zoom);
        }
      });
    };

    layer.showHeat = function (points, zoom) {
      if (layer.mode !== 'heat') {
        layer.group.clearLayers();
        layer.grid = null;
        layer.heat = L.heatLayer([], { radius: 12, blur: 14, minOpacity: 0.1 });
        layer.group.addLayer(layer.heat);
        layer.mode = 'heat';
      }
      var counts = points
        .map(function (p) {
          return p[2];
        })
        .sort(function (a, b) {
          return a - b;
        });
      var high = counts.length ? counts[Math.floor(0.95 * (counts.length - 1))] : 1;
      layer.heat.setOptions({ max: Math.max(high, 1), maxZoom: zoom });
      layer.heat.setLatLngs(points);
      L.Util.requestAnimFrame(function () {
        markDrawn('incidents');
      });
    };

    layer.showPoints = function (anew) {
      if (layer.mode === 'points' && layer.grid && !anew) return;
      if (layer.mode === 'heat') {
        layer.group.clearLayers();
        layer.heat = null;
      }
      layer.mode = 'points';
      var colours = state.config.styles.incidents;
      var url = withQuery('/collections/incidents/tiles/WebMercatorQuad/{z}/{x}/{y}', [dateQuery()]);
      var grid = vectorGrid(url, {
        pane: 'civop-incidents',
        vectorTileLayerStyles: {
          incidents: function (p, z) {
            return {
              radius: z >= 13 ? 6 : 5,
              fill: true,
              fillColor: colours[p.category] || '#8c8c8c',
              fillOpacity: 0.9,
              color: '#ffffff',
              weight: 1,
              opacity: 0.9,
            };
          },
        },
      });
      swapIn(layer, grid, function (properties, latlng) {
        openRecordPopup('incidents', properties.id, latlng);
      });
    };

    layer.forgetHeat = function () {
      heatTiles = {};
    };

    register(layer);
    return layer;
  }

  // Patrol routes -----------------------------------------------------------------------

  function patrolsLayer() {
    var layer = new Layer(
      'patrols',
      function (self) {
        var styles = state.config.styles.patrols;
        var grid = vectorGrid(withQuery('/collections/patrols/tiles/WebMercatorQuad/{z}/{x}/{y}', [dateQuery()]), {
          pane: 'civop-lines',
          vectorTileLayerStyles: {
            patrols: function (p) {
              var style = styles[p.state] || styles.conducted;
              return { color: style.color, weight: style.weight + 0.5, opacity: 0.8, dashArray: style.dashArray, fill: false };
            },
          },
        });
        swapIn(self, grid, function (properties, latlng) {
          openRecordPopup('patrols', properties.id, latlng);
        });
      },
      function (self) {
        self.grid = null;
      }
    );
    register(layer);
    return layer;
  }

  // Analysis: risk overlay (vector tiles) and hot spots (GeoJSON) ------------------------

  /** Coarser cells when zoomed out keep each tile's computation small. */
  function riskResolution(data) {
    return data.z <= 7 ? 5 : data.z <= 9 ? 6 : 7;
  }

  /**
   * Risk sums over a cell, and an H3 cell holds about 7 cells of the next resolution: the legend
   * speaks of cells of the reference resolution, whatever the zoom draws.
   */
  function perReferenceCell(risk, z) {
    var rule = state.config.styles.risk;
    return risk * Math.pow(7, rule.reference_resolution - riskResolution({ z: z }));
  }

  function riskColour(value) {
    var colour = null;
    state.config.styles.risk.classes.forEach(function (c) {
      if (value >= c[0]) colour = c[1];
    });
    return colour;
  }

  function riskLayer() {
    var layer = new Layer(
      'risk',
      function (self) {
        var grid = vectorGrid(
          withQuery('/api/analysis/risk/tiles/{z}/{x}/{y}?resolution={resolution}', [dateQuery()]),
          {
            pane: 'civop-analysis',
            resolution: riskResolution,
            vectorTileLayerStyles: {
              risk: function (p, z) {
                var colour = riskColour(perReferenceCell(p.risk, z));
                if (!colour) return [];
                return { fill: true, fillColor: colour, fillOpacity: 0.55, stroke: false, weight: 0 };
              },
            },
          }
        );
        swapIn(self, grid, function (p, latlng) {
          openCellPopup('Risk ' + Number(p.risk).toPrecision(3), [
            ['Per ' + state.config.styles.risk.reference_km2 + ' km²', perReferenceCell(p.risk, state.map.getZoom()).toPrecision(3)],
            ['Hazard', Number(p.hazard).toPrecision(3)],
            ['Vulnerability', Number(p.vulnerability).toPrecision(3)],
            ['Patrol coverage', Number(p.coverage).toPrecision(3)],
            ['H3 cell', p.cell],
          ], latlng);
        });
      },
      function (self) {
        self.grid = null;
      }
    );
    register(layer);
    return layer;
  }

  function hotspotsLayer() {
    var bbox = state.config.missionBbox.join(',');
    var opacity = state.config.styles.hotspots.opacity;
    var colours = state.config.styles.hotspots.colours;
    var layer = new Layer('hotspots', function (self) {
      var url = withQuery('/api/analysis/hotspots', ['bbox=' + bbox, 'resolution=6', dateQuery()]);
      return apiJson(url).then(function (answer) {
        var cells = (answer.features || []).filter(function (f) {
          return f.properties.hotspot;
        });
        var shown = L.geoJSON(
          { type: 'FeatureCollection', features: cells },
          {
            pane: 'civop-analysis',
            style: function (f) {
              var colour = colours[f.properties.hotspot];
              return { color: colour, weight: 1, opacity: 0.8, fillColor: colour, fillOpacity: opacity[f.properties.confidence] || 0.3 };
            },
            onEachFeature: function (f, cell) {
              cell.on('add', function () {
                var path = cell.getElement();
                if (path) path._civopLayer = cell;
              });
              cell.on('click', function (event) {
                L.DomEvent.stopPropagation(event);
                var p = f.properties;
                openCellPopup((p.hotspot === 'hot' ? 'Hot spot' : 'Cold spot') + ' (' + p.confidence + ' %)', [
                  ['Incidents', p.incidents],
                  ['Gi* z-score', p.z],
                  ['q (FDR-adjusted p)', p.q],
                  ['H3 cell', p.cell],
                ], event.latlng);
              });
            },
          }
        );
        self.ids = cells.map(function (f) {
          return f.id;
        });
        self.summary = answer.summary;
        self.group.clearLayers();
        self.group.addLayer(shown);
        markDrawn('hotspots');
      });
    });
    register(layer);
    return layer;
  }

  /**
   * A click that no layer on top took (an incidents tile covers whatever lies below it): offer
   * it to the layers underneath, top first.
   */
  function clickThrough(event) {
    var point = event.originalEvent;
    var below = point && document.elementsFromPoint ? document.elementsFromPoint(point.clientX, point.clientY) : [];
    for (var i = 0; i < below.length; i++) {
      if (below[i]._civopLayer && state.map.hasLayer(below[i]._civopLayer)) {
        below[i]._civopLayer.fire('click', { latlng: event.latlng, originalEvent: event.originalEvent });
        return;
      }
    }
    var grids = ['patrols', 'risk'];
    for (var g = 0; g < grids.length; g++) {
      var layer = state.layers[grids[g]];
      if (!layer || !layer.grid || !layer.shown()) continue;
      var hit = hitTest(layer.grid, event.latlng);
      if (hit) {
        layer.grid.fire('click', { layer: hit, latlng: event.latlng });
        return;
      }
    }
  }

  function hitTest(grid, latlng) {
    var map = state.map;
    var zoom = grid._tileZoom;
    if (zoom === undefined || zoom !== map.getZoom()) return null;
    var size = grid.getTileSize();
    var coords = map.project(latlng, zoom).unscaleBy(size).floor();
    coords.z = zoom;
    var renderer = grid._vectorTiles && grid._vectorTiles[grid._tileCoordsToKey(coords)];
    if (!renderer || !renderer._map) return null;
    var point = map.latLngToLayerPoint(latlng).subtract(renderer.getOffset());
    var found = null;
    Object.keys(renderer._layers || {}).forEach(function (id) {
      var candidate = renderer._layers[id];
      if (candidate._containsPoint && candidate._containsPoint(point)) found = candidate;
    });
    return found;
  }

  // Open alerts ---------------------------------------------------------------------------
  // The page lists the layer only when the service answers /api/alerts. It draws the alerts
  // that are not closed, and redraws when the live stream says an alert was raised, changed
  // (acknowledged, closed, grown) or that events were missed (reset). EventSource cannot send
  // the token, so the stream is read with EventSourcePolyfill, which can; it reconnects by
  // itself and resumes after the last event it saw (?since=).

  var ALERT_REDRAW_MS = 250;

  function alertsLayer() {
    return recordsLayer('alerts', {
      pane: 'civop-alerts',
      path: '/api/alerts?status=new,acknowledged&limit=1000',
      style: POINT_STYLES.alerts,
    });
  }

  function followAlerts() {
    stopFollowingAlerts();
    if (!state.layers.alerts || !state.token || !window.EventSourcePolyfill) return;
    var source = new window.EventSourcePolyfill('/api/stream?collections=alerts', {
      headers: authHeaders(),
      lastEventIdQueryParameterName: 'since',
    });
    var timer = null;
    function changed() {
      // A burst of alert events (one pass can raise several) makes one redraw.
      clearTimeout(timer);
      timer = setTimeout(function () {
        civop.alertEvents += 1;
        state.layers.alerts.invalidate();
      }, ALERT_REDRAW_MS);
    }
    source.addEventListener('alert', changed);
    source.addEventListener('reset', changed);
    state.alertStream = source;
  }

  function stopFollowingAlerts() {
    if (state.alertStream) state.alertStream.close();
    state.alertStream = null;
  }

  // ---------------------------------------------------------------------------------------
  // The period, search, live updates
  // ---------------------------------------------------------------------------------------

  /** The last ``days`` days up to today, new reports included; or all time. */
  function setPeriod(days, redraw) {
    state.allTime = days === 'all';
    state.range = state.allTime ? { from: '', to: '' } : { from: isoDay(Date.now() - (days - 1) * DAY_MS), to: '' };
    document.getElementById('civop-from').value = state.range.from;
    document.getElementById('civop-to').value = state.range.to;
    if (redraw) periodChanged();
  }

  function periodChanged() {
    ['incidents', 'patrols', 'risk', 'hotspots'].forEach(function (name) {
      if (state.layers[name]) state.layers[name].invalidate();
    });
    status('Period: ' + (state.range.from || 'the beginning') + ' to ' + (state.range.to || 'now'));
  }

  function wireToolbar() {
    var from = document.getElementById('civop-from');
    var to = document.getElementById('civop-to');
    var period = document.getElementById('civop-period');
    function typed() {
      if (from.value && to.value && to.value < from.value) {
        status('The period ends before it starts: change "from" or "to".', true);
        return;
      }
      state.range = { from: from.value, to: to.value };
      state.allTime = !from.value && !to.value;
      period.value = '';
      periodChanged();
    }
    from.addEventListener('change', typed);
    to.addEventListener('change', typed);
    period.addEventListener('change', function () {
      if (!period.value) return;
      setPeriod(period.value === 'all' ? 'all' : Number(period.value), true);
    });
    wireSearch();
  }

  var SEARCHED = [
    ['idp_sites', 'IDP site', 'name'],
    ['actors', 'Actor', 'name'],
    ['sectors', 'Area', 'name'],
    ['bases', 'Base', 'name'],
  ];
  var COORDINATES = /^\s*(-?\d+(?:\.\d+)?)\s*[,;\s]\s*(-?\d+(?:\.\d+)?)\s*$/;

  function wireSearch() {
    var input = document.getElementById('civop-search');
    var list = document.getElementById('civop-search-results');
    var timer = null;
    var asked = 0;
    var results = [];

    function show(found) {
      results = found;
      list.replaceChildren.apply(
        list,
        found.map(function (result, index) {
          var item = el('li', { role: 'option' }, [
            el('button', { type: 'button', 'data-index': String(index) }, [
              el('span', { class: 'civop-result-kind', text: result.kind }),
              el('span', { text: result.name }),
            ]),
          ]);
          return item;
        })
      );
      if (!found.length && input.value.trim().length >= 2) {
        list.replaceChildren(el('li', { class: 'civop-muted', text: 'Nothing found' }));
      }
    }

    function search(text) {
      var mine = ++asked;
      var match = COORDINATES.exec(text);
      if (match) {
        var lat = Number(match[1]);
        var lon = Number(match[2]);
        if (Math.abs(lat) <= 90 && Math.abs(lon) <= 180) {
          show([{ kind: 'Place', name: lat + ', ' + lon, latlng: L.latLng(lat, lon) }]);
          return;
        }
      }
      if (text.length < 2) {
        show([]);
        return;
      }
      Promise.all(
        SEARCHED.map(function (searched) {
          var path = '/api/' + searched[0] + '?limit=5&q=' + encodeURIComponent(text);
          return apiJson(path).then(function (body) {
            return (body.features || []).map(function (feature) {
              return {
                kind: searched[1],
                name: feature.properties[searched[2]] || searched[1] + ' (name withheld)',
                collection: searched[0],
                feature: feature,
              };
            });
          });
        })
      )
        .then(function (groups) {
          if (mine !== asked) return;
          show([].concat.apply([], groups));
        })
        .catch(report);
    }

    function go(result) {
      list.replaceChildren();
      if (!result) return;
      if (result.latlng) {
        state.map.setView(result.latlng, Math.max(state.map.getZoom(), 12));
        L.popup().setLatLng(result.latlng).setContent(el('div', { text: result.name })).openOn(state.map);
        return;
      }
      var shape = L.geoJSON(result.feature);
      var bounds = shape.getBounds();
      var target = bounds.getCenter();
      if (bounds.getNorthEast().equals(bounds.getSouthWest())) {
        state.map.setView(target, Math.max(state.map.getZoom(), 12));
      } else {
        state.map.fitBounds(bounds, { maxZoom: 13 });
      }
      openRecordPopup(result.collection, result.feature.id, target);
    }

    input.addEventListener('input', function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        search(input.value.trim());
      }, 250);
    });
    input.addEventListener('keydown', function (event) {
      if (event.key === 'Enter') {
        event.preventDefault();
        go(results[0]);
      } else if (event.key === 'Escape') {
        list.replaceChildren();
      }
    });
    list.addEventListener('click', function (event) {
      var button = event.target.closest('button[data-index]');
      if (!button) return;
      // The list empties before the click reaches the map, which would then take it for a
      // click on the map and close the popup about to open.
      event.stopPropagation();
      go(results[Number(button.getAttribute('data-index'))]);
    });
  }

  /** Which layers to redraw when a collection's version moves. */
  var DEPENDS = {
    sectors: ['sectors'],
    idp_sites: ['idp_sites', 'risk'],
    actors: ['actors'],
    projects: ['projects'],
    bases: ['bases'],
    incidents: ['incidents', 'risk', 'hotspots', 'alerts'],
    patrols: ['patrols', 'risk'],
    alerts: ['alerts'],
  };

  function poll() {
    if (state.pollTimer) clearTimeout(state.pollTimer);
    if (!state.token) return;
    apiJson('/layers/versions')
      .then(function (versions) {
        var before = state.versions;
        state.versions = versions;
        if (!before) return;
        var changed = Object.keys(versions).filter(function (name) {
          return before[name] !== versions[name];
        });
        var redraw = {};
        changed.forEach(function (name) {
          (DEPENDS[name] || []).forEach(function (layer) {
            redraw[layer] = true;
          });
        });
        Object.keys(redraw).forEach(function (name) {
          var layer = state.layers[name];
          if (!layer) return;
          if (layer.forgetHeat) layer.forgetHeat();
          layer.invalidate();
        });
        if (changed.length) {
          status('Updated ' + new Date().toTimeString().slice(0, 8) + ': ' + changed.map(label).join(', '));
        }
      })
      .catch(report)
      .then(function () {
        if (state.token) state.pollTimer = setTimeout(poll, state.config.pollSeconds * 1000);
      });
  }

  // ---------------------------------------------------------------------------------------
  // Start
  // ---------------------------------------------------------------------------------------

  /** A Leaflet control around one of the page's panels. */
  var Panel = L.Control.extend({
    onAdd: function () {
      var panel = document.getElementById(this.options.element);
      panel.hidden = false;
      L.DomEvent.disableClickPropagation(panel);
      L.DomEvent.disableScrollPropagation(panel);
      return panel;
    },
  });

  function placePanels(map) {
    new Panel({ position: 'topleft', element: 'civop-toolbar' }).addTo(map);
    var user = new Panel({ position: 'topright', element: 'civop-user' }).addTo(map);
    var corner = user.getContainer().parentNode;
    corner.insertBefore(user.getContainer(), corner.firstChild);
    new Panel({ position: 'bottomright', element: 'civop-legend' }).addTo(map);
    new Panel({ position: 'bottomleft', element: 'civop-status' }).addTo(map);
    new Panel({ position: 'topleft', element: 'civop-record-details' }).addTo(map);
    var panel = document.getElementById('civop-record-details');
    panel.hidden = true;
    panel.addEventListener('keydown', function (event) {
      if (event.key === 'Escape') hideRecordDetails();
    });
  }

  function start(map, parts, config) {
    state.map = map;
    state.groups = parts.groups;
    state.control = parts.control;
    state.config = config;
    placePanels(map);

    recordsLayer('sectors', {
      pane: 'civop-areas',
      interactive: false,
      style: function (p) {
        var s = config.styles.sectors[p.level] || config.styles.sectors.battalion;
        return { color: s.color, weight: s.weight, dashArray: s.dashArray, fill: false, opacity: 0.9 };
      },
    });
    recordsLayer('idp_sites', { style: POINT_STYLES.idp_sites });
    recordsLayer('bases', { style: POINT_STYLES.bases });
    recordsLayer('projects', { style: POINT_STYLES.projects });
    recordsLayer('actors', { style: POINT_STYLES.actors });
    incidentsLayer();
    patrolsLayer();
    riskLayer();
    hotspotsLayer();
    if (parts.groups.alerts) alertsLayer();

    map.on('overlayadd', function (event) {
      Object.keys(state.layers).forEach(function (name) {
        if (state.layers[name].group === event.layer) state.layers[name].update();
      });
    });
    map.on('moveend', function () {
      var incidents = state.layers.incidents;
      if (incidents && incidents.shown() && !incidents.stale && state.token) {
        incidents.redraw(false).catch(report);
      }
    });
    map.on('click', clickThrough);

    wireLogin();
    wireToolbar();
    state.token = sessionStorage.getItem(TOKEN_KEY);
    state.started = true;
    if (state.token) enter();
    else showLogin('');
  }

  window.civopMap = { start: start };
})();
