/* The workspace's base script: the sign-in shared with the map (the token in the tab's
 * sessionStorage under 'civop.token'), the token on every htmx request, the sign-in form on a
 * 401, focus on error summaries and refusals, and the queue of reports typed while offline.
 * No inline script, no eval: the page's Content-Security-Policy forbids both. */
(function () {
  "use strict";
  var TOKEN = "civop.token";
  var QUEUE = "civop.workspace.outbox";

  function token() { return sessionStorage.getItem(TOKEN); }
  function messages() {
    var t = document.getElementById("ws-signin-messages");
    return t ? t.dataset : {};
  }
  function signin() { return document.getElementById("ws-signin"); }

  function showSignin(expired) {
    var box = signin();
    if (!box) return;
    box.hidden = false;
    var error = document.getElementById("ws-signin-error");
    error.textContent = expired ? messages().expired : "";
    document.getElementById("ws-username").focus();
  }

  function signedIn() {
    signin().hidden = true;
    document.body.dispatchEvent(new CustomEvent("civop:signed-in", { bubbles: true }));
    var content = document.getElementById("ws-content");
    if (content && content.hasAttribute("hx-get") && !content.dataset.loaded) {
      document.body.dispatchEvent(new CustomEvent("civop:load-content", { bubbles: true }));
    }
    flushOutbox();
  }

  function signOut() {
    sessionStorage.removeItem(TOKEN);
    var nav = document.getElementById("ws-nav");
    if (nav) nav.innerHTML = "";
    window.location.assign("/workspace");
  }

  document.addEventListener("submit", function (event) {
    if (event.target.id !== "ws-signin-form") return;
    event.preventDefault();
    var form = event.target;
    var error = document.getElementById("ws-signin-error");
    var body = new URLSearchParams();
    body.set("username", form.username.value);
    body.set("password", form.password.value);
    fetch("/auth/token", { method: "POST", body: body })
      .then(function (answer) {
        if (answer.ok) {
          return answer.json().then(function (data) {
            sessionStorage.setItem(TOKEN, data.access_token);
            form.password.value = "";
            signedIn();
          });
        }
        error.textContent = answer.status === 429 ? messages().throttled : messages().wrong;
      })
      .catch(function () { error.textContent = messages().offline; });
  });

  document.addEventListener("click", function (event) {
    var target = event.target.closest && event.target.closest("[data-civop-signout]");
    if (target) signOut();
  });

  document.addEventListener("htmx:configRequest", function (event) {
    var t = token();
    if (!t) {
      event.preventDefault();
      showSignin(false);
      return;
    }
    event.detail.headers.Authorization = "Bearer " + t;
  });

  document.addEventListener("htmx:responseError", function (event) {
    if (event.detail.xhr && event.detail.xhr.status === 401) {
      sessionStorage.removeItem(TOKEN);
      showSignin(true);
    }
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (target && target.id === "ws-content") target.dataset.loaded = "1";
    var focus = target && target.querySelector("[data-error-summary], .ws-problem");
    if (focus) focus.focus();
  });

  /* Offline: a form marked data-offline-outbox is kept in localStorage when the link is down
   * (or the request cannot reach the service) and sent when it is back, once, with the
   * Idempotency-Key given when it was typed: the service answers a repeat with the first answer
   * and writes nothing twice. */
  function outbox() {
    try { return JSON.parse(localStorage.getItem(QUEUE) || "[]"); } catch (e) { return []; }
  }
  function saveOutbox(items) { localStorage.setItem(QUEUE, JSON.stringify(items)); showOutbox(); }
  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  function showOutbox() {
    var status = document.getElementById("ws-status");
    if (!status) return;
    var items = outbox();
    var parts = [];
    if (!navigator.onLine) parts.push(messages().offlineBanner);
    if (items.length === 1) parts.push(messages().queuedOne);
    else if (items.length) parts.push((messages().queued || "").replace("{count}", items.length));
    status.textContent = parts.join(" ");
    status.classList.toggle("ws-status-waiting", parts.length > 0);
    var list = document.querySelectorAll("[data-outbox-list]");
    list.forEach(function (ul) {
      ul.innerHTML = "";
      items.forEach(function (item) {
        var li = document.createElement("li");
        li.textContent = (messages().waiting || "") + ": " + (item.summary || item.url);
        ul.appendChild(li);
      });
    });
  }

  var flushing = false;
  function flushOutbox() {
    if (flushing || !navigator.onLine || !token()) return;
    var items = outbox();
    if (!items.length) { showOutbox(); return; }
    flushing = true;
    var item = items[0];
    fetch(item.url, {
      method: "POST",
      body: new URLSearchParams(item.fields),
      headers: {
        Authorization: "Bearer " + token(),
        "Idempotency-Key": item.key,
        "HX-Request": "true",
        "X-Civop-Outbox": "1",
      },
    }).then(function (answer) {
      flushing = false;
      if (answer.status === 401) { showSignin(true); return; }
      if (answer.status >= 500) return;  // kept: tried again on the next 'online'
      // Sent (or refused for good: 4xx is kept out of the queue and shown to the user).
      saveOutbox(outbox().filter(function (other) { return other.key !== item.key; }));
      return answer.text().then(function (html) {
        var content = document.getElementById("ws-content");
        var sent = document.createElement("div");
        sent.className = "ws-outbox-result";
        sent.setAttribute("role", "status");
        if (content) {
          sent.innerHTML = html;
          sent.querySelectorAll("title").forEach(function (title) { title.remove(); });
          content.prepend(sent);
          htmx.process(sent);
        }
        flushOutbox();
      });
    }).catch(function () { flushing = false; });
  }

  function summaryOf(form) {
    var field = form.dataset.outboxSummary && form.querySelector(form.dataset.outboxSummary);
    if (!field) return "";
    return field.options ? field.options[field.selectedIndex].text : field.value;
  }

  function keep(form) {
    var fields = [];
    new FormData(form).forEach(function (value, name) { fields.push([name, String(value)]); });
    var key = form.dataset.idempotencyKey || uuid();
    var items = outbox();
    if (!items.some(function (item) { return item.key === key; })) {
      items.push({
        key: key,
        url: form.getAttribute("hx-post") || form.action,
        fields: fields,
        summary: summaryOf(form),
        kept: new Date().toISOString(),
      });
      saveOutbox(items);
    }
    form.reset();
    form.dataset.idempotencyKey = uuid();
    var key_input = form.querySelector("input[name=idempotency_key]");
    if (key_input) key_input.value = form.dataset.idempotencyKey;
  }

  // Every form of the outbox carries its key from the start: a retry by htmx sends the same.
  document.addEventListener("htmx:configRequest", function (event) {
    var form = event.detail.elt.closest && event.detail.elt.closest("form[data-offline-outbox]");
    if (!form) return;
    if (!form.dataset.idempotencyKey) form.dataset.idempotencyKey = uuid();
    event.detail.headers["Idempotency-Key"] = form.dataset.idempotencyKey;
    if (!navigator.onLine) {
      event.preventDefault();
      keep(form);
    }
  });
  document.addEventListener("htmx:sendError", function (event) {
    var form = event.detail.elt.closest && event.detail.elt.closest("form[data-offline-outbox]");
    if (form) keep(form);
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail.elt;
    if (form.matches && form.matches("form[data-offline-outbox]") && event.detail.successful) {
      form.dataset.idempotencyKey = uuid();  // the next report is a new one
    }
  });

  window.addEventListener("online", function () { showOutbox(); flushOutbox(); });
  window.addEventListener("offline", showOutbox);

  function start() {
    showOutbox();
    if (token()) signedIn(); else showSignin(false);
  }
  window.civopWorkspace = { outbox: outbox, flush: flushOutbox };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { setTimeout(start, 0); });
  } else {
    setTimeout(start, 0);
  }
})();
