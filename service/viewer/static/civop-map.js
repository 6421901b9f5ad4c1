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
    filters: { categories: null, severity: 1, verifiedOnly: false },
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

  var labelsSeen = { shown: 0, hidden: 0, places: 0 };

  var civop = (window.civop = {
    /** Layer name -> milliseconds from navigation start to its first drawing. */
    ready: {},
    /** Layer name -> how many times it has been drawn. */
    drawn: {},
    /** Layer name -> record ids drawn now (points layers, vector tiles). */
    visibleIds: visibleIds,
    /** How many times the alerts layer was redrawn because the live stream said so. */
    alertEvents: 0,
    /**
     * Labels in view at the last thinning: {shown, hidden} (hidden: they would overlap a more
     * important one), and which drawing of the places it followed (as civop.drawn.places).
     */
    labelCounts: function () {
      return { shown: labelsSeen.shown, hidden: labelsSeen.hidden, places: labelsSeen.places };
    },
    /** How many times the labels were thinned (after each move, zoom and drawing of labels). */
    declutters: 0,
    /** What the incidents layer draws now: "heat" or "points". */
    incidentsMode: function () {
      return state.layers.incidents ? state.layers.incidents.mode : null;
    },
    state: state,
  });

  // ---------------------------------------------------------------------------------------
  // Small helpers
  // ---------------------------------------------------------------------------------------

  /** The message ``key`` of the page's messages (service/viewer/messages.py), filled in. */
  function t(key, values) {
    var messages = (state.config && state.config.messages) || {};
    var text = messages[key] !== undefined ? messages[key] : key;
    Object.keys(values || {}).forEach(function (name) {
      text = text.split('{' + name + '}').join(String(values[name]));
    });
    return text;
  }

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

  /** An enumerated value's label in the page's language (service/labels.py). */
  function label(value) {
    if (value === null || value === undefined) return '';
    var labels = (state.config && state.config.labels) || {};
    if (labels[value]) return labels[value];
    if (WORDS[value]) return WORDS[value];
    var text = String(value).replace(/_/g, ' ');
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  /** The page's language for Intl (Arabic with the Latin digits the reports use too). */
  function locale() {
    var language = (state.config && state.config.language) || 'en';
    return language === 'ar' ? 'ar-u-nu-latn' : language;
  }

  function timeZone() {
    return (state.config && state.config.timeZone) || 'UTC';
  }

  /** An instant in the mission's local time, written for the page's language, zone named. */
  function when(value) {
    if (!value) return '';
    var moment = new Date(value);
    if (isNaN(moment.getTime())) return String(value);
    var text = new Intl.DateTimeFormat(locale(), { dateStyle: 'medium', timeStyle: 'short', timeZone: timeZone() }).format(moment);
    return text + ' (' + ((state.config && state.config.timeZoneLabel) || 'UTC') + ')';
  }

  function number(value) {
    return value === null || value === undefined ? '' : Number(value).toLocaleString(locale());
  }

  function decimal(value) {
    return value === null || value === undefined ? '' : Number(value).toLocaleString(locale(), { maximumSignificantDigits: 3 });
  }

  /** The mission's local day (YYYY-MM-DD) of an instant: periods are the mission's days. */
  function isoDay(moment) {
    var parts = {};
    new Intl.DateTimeFormat('en-CA', { timeZone: timeZone(), year: 'numeric', month: '2-digit', day: '2-digit' })
      .formatToParts(new Date(moment))
      .forEach(function (part) {
        parts[part.type] = part.value;
      });
    return parts.year + '-' + parts.month + '-' + parts.day;
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
    status(t('status.failed', { reason: error && error.message ? error.message : error }), true);
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
    return { Authorization: 'Bearer ' + state.token, 'Accept-Language': pageLanguage() };
  }

  function pageLanguage() {
    return (state.config && state.config.language) || document.documentElement.lang || 'en';
  }

  function api(path, options) {
    options = options || {};
    var init = L.extend({}, options, { headers: L.extend({}, options.headers, authHeaders()) });
    return fetch(path, init).then(function (response) {
      if (response.status === 401) {
        signOut(t('login.ended'));
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

  /**
   * An analysis's GeoJSON: a large area answers 202 with a job run by the worker; wait for it
   * and read its result.
   */
  function analysisJson(path) {
    return api(path).then(function (response) {
      if (response.status !== 202) {
        if (response.ok) return response.json();
        return apiJson(path); // the same error message as any other read
      }
      return response
        .json()
        .then(function (job) {
          return waitForJob(job.id);
        })
        .then(function (job) {
          return apiJson(pathOf(job.result));
        });
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

  /** The page again in ``language`` (the view, in the address, is kept). */
  function showLanguage(language) {
    var url = new URL(window.location.href);
    url.searchParams.set('lang', language);
    window.location.replace(url.toString());
  }

  /** The language pickers: a signed-in user's choice is kept with their account. */
  function wireLanguage() {
    Array.prototype.forEach.call(document.querySelectorAll('.civop-language-select'), function (select) {
      select.addEventListener('change', function () {
        var language = select.value;
        if (!state.token) {
          showLanguage(language);
          return;
        }
        api('/auth/me', {
          method: 'PATCH',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ language: language }),
        })
          .then(function (response) {
            if (!response.ok) throw new Error('/auth/me answered ' + response.status);
            showLanguage(language);
          })
          .catch(report);
      });
    });
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
      fetch('/auth/token', { method: 'POST', body: body, headers: { 'Accept-Language': pageLanguage() } })
        .then(function (response) {
          return response.json().then(function (answer) {
            if (!response.ok) throw new Error(answer.detail || t('login.refused'));
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
        // The language the user chose on any page or device: the map moves to it.
        if (who.language && who.language !== state.config.language) {
          showLanguage(who.language);
          return;
        }
        var scope = who.sector_scope ? ', ' + t('user.scope', { count: who.sector_scope.length }) : '';
        document.getElementById('civop-whoami').textContent =
          who.username + ' (' + who.role + (who.cleared_restricted ? ', ' + t('user.cleared') : '') + scope + ')';
      })
      .catch(report);
  }

  // ---------------------------------------------------------------------------------------
  // Popups: the record's key fields, fetched from the API, and a link to it
  // ---------------------------------------------------------------------------------------

  var RECORDS = {
    idp_sites: {
      noun: 'record.idp_sites',
      title: function (p) {
        return p.name;
      },
      rows: [
        ['record.idp_sites.site_type', 'site_type', label],
        ['record.idp_sites.status', 'status', label],
        ['record.idp_sites.population_individuals', 'population_individuals', number],
        ['record.idp_sites.population_households', 'population_households', number],
        ['record.idp_sites.population_date', 'population_date'],
        ['record.idp_sites.description', 'description'],
      ],
    },
    incidents: {
      noun: 'record.incidents',
      title: function (p) {
        return label(p.category);
      },
      rows: [
        ['record.incidents.occurred_at', 'occurred_at', when],
        ['record.incidents.reported_at', 'reported_at', when],
        ['record.incidents.severity', 'severity', function (v) {
          return t('severity.of_5', { severity: v });
        }],
        ['record.incidents.killed', 'killed', number],
        ['record.incidents.injured', 'injured', number],
        ['record.incidents.displaced', 'displaced', number],
        ['record.incidents.source', 'source'],
        ['record.incidents.source_grading', function (p) {
          return (p.source_reliability || '') + (p.source_credibility || '');
        }],
        ['record.incidents.location_precision', 'location_precision', label],
        ['record.incidents.description', 'description'],
      ],
    },
    actors: {
      noun: 'record.actors',
      title: function (p) {
        return p.name + (p.acronym ? ' (' + p.acronym + ')' : '');
      },
      rows: [
        ['record.actors.category', 'category', label],
        ['record.actors.humanitarian', 'humanitarian', function (v) {
          return v ? 'yes' : 'no';
        }],
        ['record.actors.focal_point', 'focal_point'],
        ['record.actors.phone', 'phone'],
        ['record.actors.email', 'email'],
        ['record.actors.description', 'description'],
      ],
    },
    projects: {
      noun: 'record.projects',
      title: function (p) {
        return p.title;
      },
      rows: [
        ['record.projects.kind', 'kind', label],
        ['record.projects.status', 'status', label],
        ['record.projects.budget_usd', 'budget_usd', number],
        ['record.projects.beneficiaries', 'beneficiaries', number],
        ['record.projects.start_date', 'start_date'],
        ['record.projects.end_date', 'end_date'],
        ['record.projects.description', 'description'],
      ],
    },
    patrols: {
      noun: 'record.patrols',
      title: function (p) {
        return p.unit;
      },
      rows: [
        ['record.patrols.patrol_type', 'patrol_type', label],
        ['record.patrols.state', 'state', label],
        ['record.patrols.start_at', 'start_at', when],
        ['record.patrols.end_at', 'end_at', when],
        ['record.patrols.description', 'description'],
      ],
    },
    bases: {
      noun: 'record.bases',
      title: function (p) {
        return p.name;
      },
      rows: [
        ['record.bases.base_kind', 'base_kind', label],
        ['record.bases.unit', 'unit'],
      ],
    },
    places: {
      noun: 'record.places',
      title: function (p) {
        return p.name;
      },
      rows: [
        ['record.places.place_class', 'place_class', label],
        ['record.places.population', 'population', number],
        ['record.places.alternate_names', 'alternate_names'],
        ['record.places.admin1', 'admin1'],
        ['record.places.admin2', 'admin2'],
      ],
    },
    sectors: {
      noun: 'record.sectors',
      title: function (p) {
        return p.name;
      },
      rows: [['Level', 'level', label]],
    },
    alerts: {
      noun: 'record.alerts',
      title: function (p) {
        return p.title || 'Alert';
      },
      rows: [
        ['record.alerts.kind', 'kind', label],
        ['record.alerts.status', 'status', label],
        ['record.alerts.severity', 'severity', function (v) {
          return t('severity.of_5', { severity: v });
        }],
        ['record.alerts.triggered_at', 'triggered_at', when],
        ['record.alerts.acknowledged_at', 'acknowledged_at', when],
        ['record.alerts.description', 'description'],
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
      rows.push(el('tr', {}, [el('th', { text: t(row[0]) }), el('td', { text: String(value) })]));
    });
    return el('div', { class: 'civop-record', 'data-collection': collection, 'data-id': feature.id }, [
      el('div', { class: 'civop-record-kind', text: t(spec.noun) }),
      el('h3', { class: 'civop-record-title', text: title || t('search.withheld', { kind: t(spec.noun) }) }),
      p.generalised
        ? el('p', {
            class: 'civop-generalised',
            text: t('popup.generalised', { km: state.config.generaliseCellKm }),
          })
        : null,
      el('table', {}, rows),
      detailsButton(collection, feature),
      collection === 'alerts'
        ? null
        : el('a', {
            class: 'civop-record-page',
            href: '/workspace/records/' + collection + '/' + encodeURIComponent(feature.id),
            text: t('details.workspace'),
          }),
    ]);
  }

  // Every field of a record, in a panel of this page: the record was read with this tab's
  // sign-in, so nothing else (a new tab, a link carrying the token) is needed to see it.
  var details = { url: null };

  function detailsButton(collection, feature) {
    var button = el('button', { type: 'button', class: 'civop-link-button', text: t('details.show') });
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
    var rows = [el('tr', {}, [el('th', { text: t('details.id') }), el('td', { text: String(feature.id) })])];
    Object.keys(p).forEach(function (key) {
      var value = p[key];
      if (key === 'id' || value === null || value === undefined || value === '') return;
      rows.push(el('tr', {}, [el('th', { text: label(key) }), el('td', { text: detailValue(key, value) })]));
    });
    rows.push(el('tr', {}, [el('th', { text: t('details.location') }), el('td', { text: place(feature.geometry) })]));
    if (details.url) URL.revokeObjectURL(details.url);
    details.url = URL.createObjectURL(
      new Blob([JSON.stringify(feature, null, 2)], { type: 'application/geo+json' })
    );
    var close = el('button', { type: 'button', class: 'civop-details-close', text: t('details.close') });
    close.addEventListener('click', hideRecordDetails);
    var heading = el('h2', { tabindex: '-1', text: t(spec.noun) + ': ' + (spec.title(p) || t('search.withheld', { kind: '' }).trim()) });
    var panel = document.getElementById('civop-record-details');
    panel.replaceChildren(
      el('div', { class: 'civop-details-head' }, [heading, close]),
      el('table', {}, rows),
      el('a', {
        href: details.url,
        download: collection + '-' + feature.id + '.geojson',
        text: t('details.download'),
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
    var box = el('div', { class: 'civop-popup' }, [el('p', { class: 'civop-muted', text: t('popup.loading') })]);
    var popup = L.popup({ maxWidth: 340, minWidth: 220, autoPanPadding: [40, 40] })
      .setLatLng(latlng)
      .setContent(box)
      .openOn(state.map);
    apiJson('/api/' + collection + '/' + encodeURIComponent(id))
      .then(function (feature) {
        box.replaceChildren(renderRecord(collection, feature));
        popup.update();
        addWhere(box, feature, popup);
      })
      .catch(function (error) {
        if (error instanceof AuthError) return;
        box.replaceChildren(el('p', { class: 'civop-error', text: t('popup.unavailable') }));
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
      el('div', { class: 'civop-record-kind', text: t('cell.kind') }),
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
      var filters = [dateQuery(), filterQuery()].filter(Boolean).join('&');
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
      if (state.filters.categories && !state.filters.categories.length) {
        // No category chosen: nothing to draw, nothing to ask.
        layer.group.clearLayers();
        layer.grid = null;
        layer.heat = null;
        layer.mode = 'none';
        layer.inView = 0;
        markDrawn('incidents');
        return Promise.resolve();
      }
      if (zoom > config.heatMaxZoom) {
        layer.inView = null;
        layer.showPoints(anew);
        return Promise.resolve();
      }
      return viewHeat(zoom).then(function (tiles) {
        if (mine !== sequence || !layer.shown()) return;
        var found = cellsOf(tiles, zoom);
        layer.inView = found.inView;
        layer.cells = found.points; // [lat, lng, count] of the view's heat cells
        if (zoom >= config.pointsFromZoom && found.inView <= config.pointsMax) {
          layer.showPoints(anew);
        } else if (zoom >= config.clustersFromZoom) {
          layer.showClusters(tiles, zoom);
        } else {
          layer.showHeat(found.points, zoom);
        }
      });
    };

    /**
     * Clusters with their count: the heat tiles' cells gathered into squares of
     * ``clusterPx`` pixels, each drawn at the weighted centre of its incidents. No request
     * beyond the heat tiles already read.
     */
    layer.showClusters = function (tiles, zoom) {
      var map = state.map;
      var side = state.config.clusterPx;
      var bins = {};
      tiles.forEach(function (found) {
        var cell = 256 / found.body.grid;
        found.body.cells.forEach(function (c) {
          var x = (found.tile.x * found.body.grid + c[0] + 0.5) * cell;
          var y = (found.tile.y * found.body.grid + c[1] + 0.5) * cell;
          var key = Math.floor(x / side) + ':' + Math.floor(y / side);
          var bin = bins[key] || (bins[key] = { x: 0, y: 0, n: 0 });
          bin.x += x * c[2];
          bin.y += y * c[2];
          bin.n += c[2];
        });
      });
      var drawn = L.layerGroup();
      var counts = [];
      Object.keys(bins).forEach(function (key) {
        var bin = bins[key];
        var at = map.unproject(L.point(bin.x / bin.n, bin.y / bin.n), zoom);
        var size = Math.round(Math.min(56, 22 + 7 * Math.log10(bin.n)));
        var marker = L.marker(at, {
          pane: 'civop-incidents',
          title: t('cluster.title', { count: bin.n }),
          icon: L.divIcon({
            className: 'civop-cluster',
            html: el('span', { text: bin.n >= 10000 ? Math.round(bin.n / 1000) + 'k' : String(bin.n) }),
            iconSize: [size, size],
          }),
        });
        marker.on('click', function (event) {
          L.DomEvent.stopPropagation(event);
          map.setView(at, Math.min(zoom + 2, state.config.pointsFromZoom + 1));
        });
        drawn.addLayer(marker);
        counts.push(bin.n);
      });
      layer.group.clearLayers();
      layer.grid = null;
      layer.heat = null;
      layer.group.addLayer(drawn);
      layer.clusters = counts;
      layer.mode = 'clusters';
      L.Util.requestAnimFrame(function () {
        markDrawn('incidents');
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
      if (layer.mode === 'heat' || layer.mode === 'clusters') {
        layer.group.clearLayers();
        layer.heat = null;
      }
      layer.mode = 'points';
      var colours = state.config.styles.incidents;
      var url = withQuery('/collections/incidents/tiles/WebMercatorQuad/{z}/{x}/{y}', [dateQuery(), filterQuery()]);
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
          openCellPopup(t('cell.risk', { value: decimal(p.risk) }), [
            [t('cell.per_reference', { area: number(state.config.styles.risk.reference_km2) }), decimal(perReferenceCell(p.risk, state.map.getZoom()))],
            [t('cell.hazard'), decimal(p.hazard)],
            [t('cell.vulnerability'), decimal(p.vulnerability)],
            [t('cell.coverage'), decimal(p.coverage)],
            [t('cell.h3'), p.cell],
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
      return analysisJson(url).then(function (answer) {
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
                openCellPopup(t(p.hotspot === 'hot' ? 'cell.hot' : 'cell.cold', { confidence: p.confidence }), [
                  [t('cell.incidents'), number(p.incidents)],
                  [t('cell.z'), p.z],
                  [t('cell.q'), p.q],
                  [t('cell.h3'), p.cell],
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
    if (state.hadPopup) return; // the click closed a popup: nothing more
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
    openPointPopup(event.latlng);
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
    status(t('period.status', { from: state.range.from || t('period.beginning'), to: state.range.to || t('period.now') }));
    saveView();
    if (state.timeline) state.timeline.refresh();
  }

  function wireToolbar() {
    var from = document.getElementById('civop-from');
    var to = document.getElementById('civop-to');
    var period = document.getElementById('civop-period');
    function typed() {
      if (from.value && to.value && to.value < from.value) {
        status(t('period.backwards'), true);
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
    ['places', 'search.place', 'name'],
    ['idp_sites', 'search.site', 'name'],
    ['actors', 'search.actor', 'name'],
    ['sectors', 'search.area', 'name'],
    ['bases', 'search.base', 'name'],
  ];
  var COORDINATES = /^\s*(-?\d+(?:\.\d+)?)\s*[,;\s]\s*(-?\d+(?:\.\d+)?)\s*$/;
  // Zone and band, 100 km square, then 0 to 5 digits each of easting and northing.
  var MGRS_REFERENCE = /^\s*(\d{1,2}\s*[C-HJ-NP-X])\s*([A-HJ-NP-Z]{2})\s*(\d{0,5})\s*(\d{0,5})\s*$/i;

  /** The point of an MGRS reference (``35N LG 89325 63305``, spaces or not), or null. */
  function mgrsPoint(text) {
    var match = MGRS_REFERENCE.exec(text);
    if (!match || !window.mgrs) return null;
    var digits = match[3] + match[4];
    if (digits.length % 2) return null;
    try {
      var lonLat = window.mgrs.toPoint((match[1] + match[2] + digits).replace(/\s+/g, '').toUpperCase());
      return L.latLng(lonLat[1], lonLat[0]);
    } catch (error) {
      return null;
    }
  }

  /** A point's MGRS reference, grouped as troops write it (1 m). */
  function mgrsOf(latlng) {
    if (!window.mgrs) return '';
    try {
      var plain = window.mgrs.forward([latlng.lng, latlng.lat], 5);
      var match = /^(\d{1,2}[A-Z])([A-Z]{2})(\d{5})(\d{5})$/.exec(plain);
      return match ? match.slice(1).join(' ') : plain;
    } catch (error) {
      return '';
    }
  }

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
        list.replaceChildren(el('li', { class: 'civop-muted', text: t('search.nothing') }));
      }
    }

    function search(text) {
      var mine = ++asked;
      var match = COORDINATES.exec(text);
      if (match) {
        var lat = Number(match[1]);
        var lon = Number(match[2]);
        if (Math.abs(lat) <= 90 && Math.abs(lon) <= 180) {
          show([{ kind: t('search.coordinates'), name: lat + ', ' + lon, latlng: L.latLng(lat, lon) }]);
          return;
        }
      }
      var grid = mgrsPoint(text);
      if (grid) {
        var reference = text.trim().toUpperCase();
        show([{ kind: t('search.mgrs'), name: reference, latlng: grid }]);
        return;
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
                kind: t(searched[1]),
                name: feature.properties[searched[2]] || t('search.withheld', { kind: t(searched[1]) }),
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
        // Not animated: the popup's own panning would stop the animation half-way.
        state.map.setView(result.latlng, Math.max(state.map.getZoom(), 12), { animate: false });
        openPointPopup(result.latlng, result.name);
        return;
      }
      if (result.collection === 'places') {
        var at = L.geoJSON(result.feature).getBounds().getCenter();
        state.map.setView(at, Math.max(state.map.getZoom(), 12));
        openRecordPopup('places', result.feature.id, at);
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
          status(t('status.updated', { time: new Date().toTimeString().slice(0, 8), layers: changed.map(label).join(', ') }));
        }
      })
      .catch(report)
      .then(function () {
        if (state.token) state.pollTimer = setTimeout(poll, state.config.pollSeconds * 1000);
      });
  }


  // ---------------------------------------------------------------------------------------
  // Where a point is: decimal degrees, MGRS, and the nearest place the user may see
  // ---------------------------------------------------------------------------------------

  function latLonText(latlng) {
    return latlng.lat.toFixed(5) + ', ' + latlng.lng.toFixed(5);
  }

  /** "3 km NE of Dorosa" for a point, from the gazetteer (null when no place is near). */
  function nearPhrase(latlng) {
    var path = '/api/places/near?lon=' + latlng.lng.toFixed(6) + '&lat=' + latlng.lat.toFixed(6);
    return apiJson(path).then(function (answer) {
      return answer.phrase;
    });
  }

  /** Add "Where: 3 km NE of Dorosa" and the MGRS reference to a record's popup. */
  function addWhere(box, feature, popup) {
    if (!feature.geometry || feature.geometry.type !== 'Point') return;
    var latlng = L.latLng(feature.geometry.coordinates[1], feature.geometry.coordinates[0]);
    var table = box.querySelector('table');
    if (!table) return;
    var cell = el('td', { class: 'civop-where', text: mgrsOf(latlng) });
    table.insertBefore(el('tr', {}, [el('th', { text: t('popup.where') }), cell]), table.firstChild);
    nearPhrase(latlng)
      .then(function (phrase) {
        if (phrase) cell.textContent = phrase + ' · ' + mgrsOf(latlng);
        popup.update();
      })
      .catch(function () {});
  }

  /** A popup of a point: its coordinates, MGRS and nearest place. */
  function openPointPopup(latlng, title) {
    var near = el('td', { class: 'civop-where', text: '…' });
    var box = el('div', { class: 'civop-popup civop-record civop-point' }, [
      el('div', { class: 'civop-record-kind', text: t('coords.point') }),
      title ? el('h3', { class: 'civop-record-title', text: title }) : null,
      el('table', {}, [
        el('tr', {}, [el('th', { text: t('coords.latlon') }), el('td', { class: 'civop-point-latlon', text: latLonText(latlng) })]),
        el('tr', {}, [el('th', { text: t('coords.mgrs') }), el('td', { class: 'civop-point-mgrs', text: mgrsOf(latlng) })]),
        el('tr', {}, [el('th', { text: t('coords.near') }), near]),
      ]),
    ]);
    var popup = L.popup({ maxWidth: 320 }).setLatLng(latlng).setContent(box).openOn(state.map);
    if (!state.token) return popup;
    nearPhrase(latlng)
      .then(function (phrase) {
        near.textContent = phrase || t('coords.no_place');
        popup.update();
      })
      .catch(report);
    return popup;
  }

  function wireCoordinates(map) {
    var latlon = document.getElementById('civop-cursor-latlon');
    var grid = document.getElementById('civop-cursor-mgrs');
    function show(latlng) {
      latlon.textContent = latLonText(latlng);
      grid.textContent = mgrsOf(latlng);
    }
    map.on('mousemove', function (event) {
      show(event.latlng);
    });
    show(map.getCenter());
  }

  // ---------------------------------------------------------------------------------------
  // Labels: the gazetteer's places (bigger places from farther out), sectors, sites, bases
  // ---------------------------------------------------------------------------------------

  function labelIcon(text, className) {
    return L.divIcon({
      className: 'civop-label ' + className,
      html: el('span', { text: text }),
      iconSize: null,
    });
  }

  function labelMarker(latlng, text, className, attributes) {
    var marker = L.marker(latlng, {
      icon: labelIcon(text, className),
      pane: 'civop-labels',
      interactive: false,
      keyboard: false,
    });
    marker.on('add', function () {
      var node = marker.getElement();
      if (!node) return;
      Object.keys(attributes || {}).forEach(function (name) {
        if (name === 'fontSize') node.style.fontSize = attributes[name];
        else node.setAttribute(name, attributes[name]);
      });
    });
    return marker;
  }

  /** Classes of place labelled at ``zoom`` (cities first: they show from farthest out). */
  function placeClassesAt(zoom) {
    var rules = state.config.styles.places;
    return Object.keys(rules).filter(function (name) {
      return zoom >= rules[name].from_zoom;
    });
  }

  function placesLayer() {
    var sequence = 0;
    var layer = new Layer('places', function (self) {
      return self.redraw();
    });
    layer.redraw = function () {
      var map = state.map;
      var classes = placeClassesAt(map.getZoom());
      var mine = ++sequence;
      if (!classes.length) {
        layer.group.clearLayers();
        layer.ids = [];
        markDrawn('places');
        return Promise.resolve();
      }
      var b = map.getBounds().pad(0.2);
      var bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]
        .map(function (v) {
          return v.toFixed(4);
        })
        .join(',');
      var path = '/api/places?limit=1000&bbox=' + bbox + '&place_class=' + classes.join(',');
      return allFeatures(path).then(function (features) {
        if (mine !== sequence) return;
        var rules = state.config.styles.places;
        var drawn = L.layerGroup();
        features.forEach(function (feature) {
          var p = feature.properties;
          if (!p.name || !feature.geometry) return;
          var latlng = L.latLng(feature.geometry.coordinates[1], feature.geometry.coordinates[0]);
          var rule = rules[p.place_class] || rules.village;
          var dot = L.circleMarker(latlng, {
            pane: 'civop-labels',
            radius: p.place_class === 'city' ? 4 : p.place_class === 'town' ? 3 : 2,
            color: '#1d2733',
            weight: 1,
            fillColor: '#ffffff',
            fillOpacity: 1,
            interactive: false,
          });
          drawn.addLayer(dot);
          var text = labelMarker(latlng, p.name, 'civop-place civop-place-' + p.place_class, {
            'data-id': feature.id,
            'data-collection': 'places',
            'data-rank': LABEL_RANK.places[p.place_class] || 0,
            fontSize: rule.size + 'px',
          });
          drawn.addLayer(text);
        });
        layer.ids = features.map(function (f) {
          return f.id;
        });
        layer.names = features.map(function (f) {
          return f.properties.name;
        });
        layer.group.clearLayers();
        layer.group.addLayer(drawn);
        markDrawn('places');
        declutterSoon();
      });
    };
    register(layer);
    return layer;
  }

  /** Names over a records layer's features, from the zoom ``fromZoom(properties)`` says. */
  function recordLabels(name, text, fromZoom, rank) {
    var layer = state.layers[name];
    if (!layer) return;
    var labels = L.layerGroup();
    layer.labels = labels;
    function refresh() {
      labels.clearLayers();
      if (!layer.geojson || !layer.shown()) return;
      var zoom = state.map.getZoom();
      var view = state.map.getBounds().pad(0.2);
      layer.geojson.eachLayer(function (shape) {
        var p = shape.feature.properties;
        var caption = text(p);
        if (!caption || zoom < fromZoom(p)) return;
        var at = shape.getLatLng ? shape.getLatLng() : shape.getBounds().getCenter();
        if (!view.contains(at)) return;
        if (p.hq && p.hq.coordinates) at = L.latLng(p.hq.coordinates[1], p.hq.coordinates[0]);
        labels.addLayer(
          labelMarker(at, caption, 'civop-label-' + name, { 'data-id': shape.feature.id, 'data-rank': rank(p) })
        );
      });
      declutterSoon();
    }
    layer.refreshLabels = refresh;
    document.addEventListener('civop:drawn', function (event) {
      if (event.detail.layer !== name) return;
      if (!layer.group.hasLayer(labels)) layer.group.addLayer(labels);
      refresh();
    });
    state.map.on('zoomend moveend', refresh);
  }

  /**
   * Which labels go first when they would overlap: places by class, areas by level, sites by
   * their population (larger first), bases between towns and villages.
   */
  var LABEL_RANK = {
    places: { city: 900, town: 800, village: 400, hamlet: 200 },
    sectors: { sector: 700, battalion: 600 },
    bases: 500,
    idp_sites: function (population) {
      var people = Number(population) || 0;
      return 300 + people / (people + 1000);
    },
  };
  var LABEL_GAP = 1; // pixels kept free around each label shown

  var declutterFrame = null;

  function declutterSoon() {
    if (declutterFrame !== null) return;
    declutterFrame = L.Util.requestAnimFrame(function () {
      declutterFrame = null;
      declutter();
    });
  }

  /**
   * Thin the labels as map clients do: the labels in view, most important first, are placed
   * one by one, and a label whose box would overlap one already placed is hidden. The boxes
   * already placed are kept in an R-tree (rbush), so each test asks only its neighbours.
   */
  function declutter() {
    var map = state.map;
    if (!map) return;
    var nodes = Array.prototype.slice.call(map.getPane('civop-labels').querySelectorAll('.civop-label'));
    nodes.forEach(function (node) {
      node.classList.remove('civop-label-hidden');
    });
    var view = map.getContainer().getBoundingClientRect();
    var candidates = [];
    nodes.forEach(function (node, order) {
      var box = (node.firstElementChild || node).getBoundingClientRect();
      if (!box.width || !box.height) return;
      if (box.right < view.left || box.left > view.right || box.bottom < view.top || box.top > view.bottom) return;
      candidates.push({
        node: node,
        order: order,
        rank: Number(node.getAttribute('data-rank')) || 0,
        minX: box.left - LABEL_GAP,
        minY: box.top - LABEL_GAP,
        maxX: box.right + LABEL_GAP,
        maxY: box.bottom + LABEL_GAP,
      });
    });
    candidates.sort(function (a, b) {
      return b.rank - a.rank || a.order - b.order;
    });
    var placed = new RBush();
    var seen = { shown: 0, hidden: 0, places: civop.drawn.places || 0 };
    candidates.forEach(function (label) {
      if (placed.collides(label)) {
        label.node.classList.add('civop-label-hidden');
        seen.hidden += 1;
      } else {
        placed.insert(label);
        seen.shown += 1;
      }
    });
    labelsSeen = seen;
    civop.declutters += 1;
    document.documentElement.setAttribute('data-civop-labels-shown', String(seen.shown));
    document.documentElement.setAttribute('data-civop-labels-hidden', String(seen.hidden));
  }

  // ---------------------------------------------------------------------------------------
  // The basemap civop serves from its file, read with the user's token
  // ---------------------------------------------------------------------------------------

  function basemapLayer(map, control) {
    var spec = state.config.basemap;
    if (!spec) return null;
    var layer;
    if (spec.format === 'pbf') {
      layer = L.vectorGrid.protobuf(spec.url, {
        rendererFactory: L.canvas.tile,
        interactive: false,
        maxNativeZoom: spec.maxZoom,
        minZoom: 3,
        fetchOptions: { headers: authHeaders() },
        vectorTileLayerStyles: {},
        attribution: spec.attribution,
      });
      // Every layer of a vector basemap drawn plainly: water blue, roads orange, the rest grey.
      layer.options.vectorTileLayerStyles = new Proxy({}, {
        get: function (target, name) {
          var key = String(name);
          if (/water|river|lake|ocean/.test(key)) return { color: '#78acde', fillColor: '#aecdeb', fill: true, weight: 1 };
          if (/road|transport|highway|street/.test(key)) return { color: '#d9a441', weight: 1.5 };
          return { color: '#c9c4b8', weight: 0.6, fill: false };
        },
      });
    } else {
      layer = new window.civopBasemap.SignedInTiles(spec.url, {
        maxNativeZoom: spec.maxZoom,
        minNativeZoom: spec.minZoom,
        minZoom: 3,
        attribution: spec.attribution,
        // Through the map's API calls: a session that ended signs the user out.
        fetchTile: function (url) {
          return state.token ? api(url) : null;
        },
      });
    }
    var plain = L.layerGroup();
    layer.addTo(map);
    control.addBaseLayer(layer, t('layer.basemap'));
    control.addBaseLayer(plain, t('layer.plain'));
    state.basemap = layer;
    return layer;
  }

  // ---------------------------------------------------------------------------------------
  // Incident filters, and the view in the page's address (a view survives a reload and can
  // be shared): #map=zoom/lat/lon&from=&to=&category=&severity=&verification_state=
  // ---------------------------------------------------------------------------------------

  /** ``category=...&severity=...&verification_state=verified`` of the incidents shown, ''
   * when nothing is filtered. */
  function filterQuery() {
    var parts = [];
    var all = state.config.categories;
    var chosen = state.filters.categories;
    if (chosen && chosen.length && chosen.length < all.length) parts.push('category=' + chosen.join(','));
    if (state.filters.severity > 1) {
      var levels = [];
      for (var s = state.filters.severity; s <= 5; s++) levels.push(s);
      parts.push('severity=' + levels.join(','));
    }
    if (state.filters.verifiedOnly) parts.push('verification_state=verified');
    return parts.join('&');
  }

  function filtersChanged() {
    var chosen = state.filters.categories || state.config.categories;
    var stateText = document.getElementById('civop-filters-state');
    var filtered = chosen.length < state.config.categories.length || state.filters.severity > 1;
    var texts = [];
    if (filtered) {
      texts.push(t('filters.active', { count: chosen.length, total: state.config.categories.length, severity: state.filters.severity }));
    }
    if (state.filters.verifiedOnly) texts.push(t('filters.verified_active'));
    stateText.textContent = texts.join(' · ');
    var incidents = state.layers.incidents;
    if (incidents) {
      if (incidents.forgetHeat) incidents.forgetHeat();
      incidents.invalidate();
    }
    saveView();
    if (state.timeline) state.timeline.refresh();
  }

  function showFilters() {
    var chosen = state.filters.categories || state.config.categories;
    document.querySelectorAll('#civop-filters input[name=category]').forEach(function (box) {
      box.checked = chosen.indexOf(box.value) >= 0;
    });
    document.getElementById('civop-severity').value = String(state.filters.severity);
    document.getElementById('civop-verified-only').checked = state.filters.verifiedOnly;
  }

  function wireFilters() {
    var boxes = document.querySelectorAll('#civop-filters input[name=category]');
    function read() {
      var chosen = [];
      boxes.forEach(function (box) {
        if (box.checked) chosen.push(box.value);
      });
      state.filters.categories = chosen.length === state.config.categories.length ? null : chosen;
      filtersChanged();
    }
    boxes.forEach(function (box) {
      box.addEventListener('change', read);
    });
    document.getElementById('civop-categories-all').addEventListener('click', function () {
      boxes.forEach(function (box) {
        box.checked = true;
      });
      read();
    });
    document.getElementById('civop-categories-none').addEventListener('click', function () {
      boxes.forEach(function (box) {
        box.checked = false;
      });
      read();
    });
    document.getElementById('civop-severity').addEventListener('change', function (event) {
      state.filters.severity = Number(event.target.value) || 1;
      filtersChanged();
    });
    document.getElementById('civop-verified-only').addEventListener('change', function (event) {
      state.filters.verifiedOnly = event.target.checked;
      filtersChanged();
    });
  }

  /** The export dialog's address for what the map shows: its area, period and filters. */
  function exportLink() {
    var link = document.getElementById('civop-export-view');
    if (!link || !state.map) return;
    var b = state.map.getBounds();
    var bbox = [
      Math.max(-180, b.getWest()), Math.max(-90, b.getSouth()),
      Math.min(180, b.getEast()), Math.min(90, b.getNorth()),
    ].map(function (v) {
      return v.toFixed(5);
    });
    var parts = ['view=map', 'collection=incidents', 'bbox=' + bbox.join(','), dateQuery(), filterQuery()];
    link.href = withQuery('/workspace/exports', parts);
  }

  function saveView() {
    exportLink();
    if (!state.map || !state.viewRead) return;
    var centre = state.map.getCenter();
    var params = new URLSearchParams();
    params.set('map', state.map.getZoom() + '/' + centre.lat.toFixed(5) + '/' + centre.lng.toFixed(5));
    if (state.allTime) params.set('period', 'all');
    if (state.range.from) params.set('from', state.range.from);
    if (state.range.to) params.set('to', state.range.to);
    if (state.filters.categories) params.set('category', state.filters.categories.join(','));
    if (state.filters.severity > 1) params.set('severity', String(state.filters.severity));
    if (state.filters.verifiedOnly) params.set('verification_state', 'verified');
    var hash = '#' + params.toString().replace(/%2F/g, '/').replace(/%2C/g, ',');
    if (hash !== window.location.hash) history.replaceState(null, '', hash);
  }

  /** The view the address names, if any (before the first drawing). */
  function readView() {
    var params = new URLSearchParams(window.location.hash.replace(/^#/, ''));
    var where = (params.get('map') || '').split('/').map(Number);
    if (where.length === 3 && where.every(function (v) {
      return isFinite(v);
    })) {
      state.map.setView([where[1], where[2]], where[0], { animate: false });
    }
    var day = /^\d{4}-\d{2}-\d{2}$/;
    if (params.get('period') === 'all') state.allTime = true;
    var from = params.get('from') || '';
    var to = params.get('to') || '';
    if (day.test(from) || day.test(to)) {
      state.range = { from: day.test(from) ? from : '', to: day.test(to) ? to : '' };
      document.getElementById('civop-from').value = state.range.from;
      document.getElementById('civop-to').value = state.range.to;
    }
    var known = state.config.categories;
    if (params.has('category')) {
      state.filters.categories = params
        .get('category')
        .split(',')
        .filter(function (c) {
          return known.indexOf(c) >= 0;
        });
    }
    var severity = Number(params.get('severity'));
    if (severity >= 1 && severity <= 5) state.filters.severity = Math.floor(severity);
    state.filters.verifiedOnly = params.get('verification_state') === 'verified';
    showFilters();
    state.viewRead = true;
  }


  // ---------------------------------------------------------------------------------------
  // Time: the view's incidents per day or week by category (counted by the service), a
  // brush that sets the period, and play through time
  // ---------------------------------------------------------------------------------------

  var SVG = 'http://www.w3.org/2000/svg';
  var CHART = { width: 320, height: 110, bottom: 16 };

  function svg(tag, attributes) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attributes || {}).forEach(function (name) {
      node.setAttribute(name, attributes[name]);
    });
    return node;
  }

  function dayOf(text) {
    return new Date(text + 'T00:00:00Z').getTime();
  }

  function timelineChart() {
    var panel = document.getElementById('civop-time');
    var chart = document.getElementById('civop-chart');
    var interval = document.getElementById('civop-interval');
    var play = document.getElementById('civop-play');
    var total = document.getElementById('civop-time-total');
    var sequence = 0;
    var moveTimer = null;
    var playTimer = null;
    var shown = null; // {start, end, step} in ms
    var pending = null; // {from, to} in ms (to: the day after the last): chosen with the keys
    var live = document.getElementById('civop-time-live');
    var selectedBox = null;
    var fixed = null; // the span while playing: the chart stays still as the period moves

    /** The chart's span: a year up to the period's end, or longer when the period is. */
    function span() {
      if (fixed) return fixed;
      var end = state.range.to ? dayOf(state.range.to) + DAY_MS : Date.now();
      var start = end - 365 * DAY_MS;
      if (state.range.from && dayOf(state.range.from) < start) start = dayOf(state.range.from);
      return { start: dayOf(isoDay(start)), end: end };
    }

    function query() {
      var b = state.map.getBounds();
      var bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]
        .map(function (v) {
          return Math.max(-180, Math.min(180, v)).toFixed(4);
        })
        .join(',');
      var s = span();
      return [
        'interval=' + interval.value,
        'bbox=' + bbox,
        'datetime=' + isoDay(s.start) + '/..', // a bare day: the mission's local day
        filterQuery(),
      ];
    }

    function refresh() {
      if (!panel.open || !state.token) return Promise.resolve();
      var mine = ++sequence;
      if (state.filters.categories && !state.filters.categories.length) {
        draw({ interval: interval.value, total: 0, counts: [] });
        return Promise.resolve();
      }
      var parts = query();
      return apiJson(withQuery('/api/incidents/timeline', parts))
        .then(function (answer) {
          if (mine !== sequence) return;
          answer.query = parts.filter(Boolean).join('&');
          civop.timeline = answer;
          draw(answer);
          markDrawn('timeline');
        })
        .catch(report);
    }

    function draw(answer) {
      var s = span();
      var step = (answer.interval === 'day' ? 1 : 7) * DAY_MS;
      var start = answer.interval === 'week' ? s.start - (((new Date(s.start).getUTCDay() + 6) % 7) * DAY_MS) : s.start;
      shown = { start: start, end: s.end, step: step };
      var stacks = {};
      var highest = 1;
      answer.counts.forEach(function (c) {
        var stack = stacks[c.period] || (stacks[c.period] = []);
        stack.push(c);
      });
      Object.keys(stacks).forEach(function (period) {
        var sum = stacks[period].reduce(function (a, c) {
          return a + c.count;
        }, 0);
        highest = Math.max(highest, sum);
      });
      var plot = CHART.height - CHART.bottom;
      var width = (CHART.width * step) / (shown.end - shown.start);
      var box = svg('svg', {
        viewBox: '0 0 ' + CHART.width + ' ' + CHART.height,
        width: CHART.width,
        height: CHART.height,
        role: 'img',
        'aria-label': t('time.chart', { interval: answer.interval }),
      });
      var colours = state.config.styles.incidents;
      Object.keys(stacks).forEach(function (period) {
        var x = xOf(dayOf(period));
        var y = plot;
        stacks[period].forEach(function (c) {
          var h = (c.count / highest) * (plot - 4);
          y -= h;
          var bar = svg('rect', {
            x: x.toFixed(2),
            y: y.toFixed(2),
            width: Math.max(1, width - 0.5).toFixed(2),
            height: h.toFixed(2),
            fill: colours[c.category] || '#888',
            'data-period': period,
            'data-category': c.category,
            'data-count': c.count,
          });
          var title = svg('title');
          title.textContent = period + ' · ' + label(c.category) + ': ' + c.count;
          bar.appendChild(title);
          box.appendChild(bar);
        });
      });
      box.appendChild(svg('line', { x1: 0, x2: CHART.width, y1: plot, y2: plot, stroke: '#5b6772' }));
      [shown.start, (shown.start + shown.end) / 2, shown.end - DAY_MS].forEach(function (moment, i) {
        var tick = svg('text', { x: xOf(moment), y: CHART.height - 3, 'font-size': 9, 'text-anchor': ['start', 'middle', 'end'][i] });
        tick.textContent = isoDay(moment);
        box.appendChild(tick);
      });
      var period = chosen();
      var selected = svg('rect', {
        class: 'civop-chart-period',
        x: xOf(period.from),
        y: 0,
        width: Math.max(1, xOf(period.to) - xOf(period.from)),
        height: plot,
      });
      box.appendChild(selected);
      selectedBox = selected;
      brush(box, selected, plot);
      chart.replaceChildren(box);
      total.textContent = t('time.total', { count: number(answer.total) });
    }

    function xOf(moment) {
      return ((moment - shown.start) / (shown.end - shown.start)) * CHART.width;
    }

    function momentOf(x) {
      return shown.start + (Math.max(0, Math.min(CHART.width, x)) / CHART.width) * (shown.end - shown.start);
    }

    function brush(box, selected, plot) {
      var startX = null;
      function at(event) {
        var rect = box.getBoundingClientRect();
        return ((event.clientX - rect.left) / rect.width) * CHART.width;
      }
      box.addEventListener('pointerdown', function (event) {
        startX = at(event);
        box.setPointerCapture(event.pointerId);
        selected.setAttribute('x', startX);
        selected.setAttribute('width', 1);
      });
      box.addEventListener('pointermove', function (event) {
        if (startX === null) return;
        var x = at(event);
        selected.setAttribute('x', Math.min(startX, x));
        selected.setAttribute('width', Math.max(1, Math.abs(x - startX)));
      });
      box.addEventListener('pointerup', function (event) {
        if (startX === null) return;
        var x = at(event);
        var a = momentOf(Math.min(startX, x));
        var b = momentOf(Math.max(startX, x));
        startX = null;
        if (b - a < DAY_MS) return;
        setRange(isoDay(a), isoDay(b));
      });
    }

    /** The period the chart shows: the one being chosen with the keys, else the one applied. */
    function chosen() {
      if (pending) return pending;
      var end = dayOf(isoDay(shown.end - 1)) + DAY_MS;
      return {
        from: state.range.from ? dayOf(state.range.from) : shown.start,
        to: state.range.to ? dayOf(state.range.to) + DAY_MS : end,
      };
    }

    function periodText(key, period) {
      return t(key, { from: isoDay(period.from), to: isoDay(period.to - DAY_MS) });
    }

    /**
     * The keyboard's brush: Left and Right move the period by one bar, Shift with them moves
     * its end, Home and End take it to the chart's ends, Enter applies it, Escape forgets it.
     */
    function keys(event) {
      if (!shown || event.altKey || event.ctrlKey || event.metaKey) return;
      var period = chosen();
      var first = shown.start;
      var last = dayOf(isoDay(shown.end - 1)) + DAY_MS;
      var length = period.to - period.from;
      var step = shown.step;
      var next = null;
      if (event.key === 'Enter') {
        if (!pending) return;
        event.preventDefault();
        pending = null;
        chart.classList.remove('civop-chart-pending');
        live.textContent = periodText('time.applied', period);
        setRange(isoDay(period.from), isoDay(period.to - DAY_MS));
        return;
      }
      if (event.key === 'Escape') {
        if (!pending) return;
        event.preventDefault();
        pending = null;
        chart.classList.remove('civop-chart-pending');
        next = chosen();
      } else if (event.key === 'ArrowLeft' || event.key === 'ArrowRight') {
        var sign = event.key === 'ArrowLeft' ? -1 : 1;
        if (event.shiftKey) {
          var end = Math.max(period.from + Math.min(step, length), Math.min(last, period.to + sign * step));
          next = { from: period.from, to: end };
        } else {
          var from = Math.max(first, Math.min(last - length, period.from + sign * step));
          next = { from: from, to: from + length };
        }
      } else if (event.key === 'Home') {
        next = { from: first, to: Math.min(last, first + length) };
      } else if (event.key === 'End') {
        next = { from: Math.max(first, last - length), to: last };
      } else {
        return;
      }
      event.preventDefault();
      if (event.key !== 'Escape') {
        pending = next;
        chart.classList.add('civop-chart-pending');
      }
      if (selectedBox) {
        selectedBox.setAttribute('x', xOf(next.from));
        selectedBox.setAttribute('width', Math.max(1, xOf(next.to) - xOf(next.from)));
      }
      live.textContent = periodText(pending ? 'time.selected' : 'period.status', next);
    }

    function setRange(from, to) {
      pending = null;
      chart.classList.remove('civop-chart-pending');
      state.range = { from: from, to: to };
      state.allTime = false;
      document.getElementById('civop-from').value = from;
      document.getElementById('civop-to').value = to;
      document.getElementById('civop-period').value = '';
      periodChanged();
    }

    /** Play: the period's length moves forward one bar at a time to the end of the chart. */
    function toggle() {
      if (playTimer) {
        stop();
        return;
      }
      if (!shown) return;
      var length = state.range.from && state.range.to ? dayOf(state.range.to) - dayOf(state.range.from) : 30 * DAY_MS;
      var from = shown.start;
      fixed = { start: shown.start, end: shown.end };
      play.textContent = t('time.pause');
      function tick() {
        if (from + length > shown.end) {
          stop();
          return;
        }
        setRange(isoDay(from), isoDay(from + length));
        from += shown.step;
        playTimer = setTimeout(tick, 1200);
      }
      tick();
    }

    function stop() {
      clearTimeout(playTimer);
      playTimer = null;
      fixed = null;
      play.textContent = t('time.play');
    }

    chart.addEventListener('keydown', keys);
    panel.addEventListener('toggle', refresh);
    interval.addEventListener('change', refresh);
    play.addEventListener('click', toggle);
    return {
      refresh: refresh,
      moved: function () {
        clearTimeout(moveTimer);
        moveTimer = setTimeout(refresh, 400);
      },
    };
  }


  // ---------------------------------------------------------------------------------------
  // Print the view (PDF or PNG): made by the job worker, fetched with the user's token
  // ---------------------------------------------------------------------------------------

  var printed = { url: null };

  function wirePrint() {
    var button = document.getElementById('civop-print-start');
    var message = document.getElementById('civop-print-status');
    button.addEventListener('click', function () {
      var b = state.map.getBounds();
      var range = dateQuery().replace(/^datetime=/, '');
      var body = {
        title: document.getElementById('civop-print-title').value || t('print.default_title'),
        format: document.getElementById('civop-print-format').value,
        bbox: [
          Math.max(-180, b.getWest()),
          Math.max(-85, b.getSouth()),
          Math.min(180, b.getEast()),
          Math.min(85, b.getNorth()),
        ],
        zoom: state.map.getZoom(),
        datetime: range || null,
        category: state.filters.categories,
        severity: state.filters.severity,
        verified_only: state.filters.verifiedOnly,
      };
      button.disabled = true;
      message.replaceChildren(t('print.working'));
      api('/api/prints', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      })
        .then(function (response) {
          return response.json().then(function (job) {
            if (!response.ok) throw new Error(job.detail ? JSON.stringify(job.detail) : response.status);
            return waitForJob(job.id);
          });
        })
        .then(function (job) {
          return api(pathOf(job.result)).then(function (response) {
            return response.blob().then(function (blob) {
              if (printed.url) URL.revokeObjectURL(printed.url);
              printed.url = URL.createObjectURL(blob);
              civop.printed = job;
              message.replaceChildren(
                t('print.ready'),
                el('a', { href: printed.url, download: job.result_name, text: t('print.download') })
              );
            });
          });
        })
        .catch(function (error) {
          if (error instanceof AuthError) return;
          message.replaceChildren(el('span', { class: 'civop-error', text: t('print.failed', { reason: error.message || error }) }));
        })
        .then(function () {
          button.disabled = false;
        });
    });
  }

  function waitForJob(id) {
    return new Promise(function (resolve, reject) {
      function look() {
        apiJson('/api/jobs/' + encodeURIComponent(id))
          .then(function (job) {
            if (job.state === 'succeeded') resolve(job);
            else if (job.state === 'failed' || job.state === 'cancelled') reject(new Error(job.error || job.state));
            else setTimeout(look, 700);
          })
          .catch(reject);
      }
      look();
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
    new Panel({ position: 'bottomleft', element: 'civop-coordinates' }).addTo(map);
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
    exportLink();
    basemapLayer(map, parts.control);
    placesLayer();

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
    var labels = config.styles;
    recordLabels('sectors', function (p) {
      return p.level === 'force' ? null : p.name;
    }, function (p) {
      return labels.sector_labels[p.level] || 99;
    }, function (p) {
      return LABEL_RANK.sectors[p.level] || 0;
    });
    recordLabels('idp_sites', function (p) {
      return p.name;
    }, function () {
      return labels.site_label_zoom;
    }, function (p) {
      return LABEL_RANK.idp_sites(p.population_individuals);
    });
    recordLabels('bases', function (p) {
      return p.name;
    }, function () {
      return labels.site_label_zoom;
    }, function () {
      return LABEL_RANK.bases;
    });
    map.on('zoomend moveend overlayadd overlayremove', declutterSoon);

    map.on('overlayadd', function (event) {
      Object.keys(state.layers).forEach(function (name) {
        if (state.layers[name].group === event.layer) state.layers[name].update();
      });
    });
    map.on('preclick', function () {
      state.hadPopup = !!(map._popup && map.hasLayer(map._popup));
    });
    map.on('moveend', function () {
      saveView();
      var places = state.layers.places;
      if (places && places.shown() && state.token) places.redraw().catch(report);
      if (state.timeline) state.timeline.moved();
      var incidents = state.layers.incidents;
      if (incidents && incidents.shown() && !incidents.stale && state.token) {
        incidents.redraw(false).catch(report);
      }
    });
    map.on('click', clickThrough);

    wireLogin();
    wireLanguage();
    wireToolbar();
    wireFilters();
    wirePrint();
    wireCoordinates(map);
    readView();
    state.timeline = timelineChart();
    state.token = sessionStorage.getItem(TOKEN_KEY);
    state.started = true;
    if (state.token) enter();
    else showLogin('');
  }

  window.civopMap = { start: start };
})();
