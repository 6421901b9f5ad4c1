/* The import wizard: a file dropped on the page goes into the form's file input; after each
   step the keyboard focus moves to what changed (the error summary, or the preview). */
(function () {
  'use strict';

  function wireDropZone(zone) {
    if (zone.dataset.wired) return;
    zone.dataset.wired = 'yes';
    var input = zone.querySelector('input[type=file]');
    var chosen = zone.querySelector('[data-drop-chosen]');
    function show() {
      chosen.textContent = input.files && input.files.length ? input.files[0].name : '';
    }
    ['dragenter', 'dragover'].forEach(function (name) {
      zone.addEventListener(name, function (event) {
        event.preventDefault();
        zone.classList.add('drop-zone-over');
      });
    });
    ['dragleave', 'drop'].forEach(function (name) {
      zone.addEventListener(name, function () {
        zone.classList.remove('drop-zone-over');
      });
    });
    zone.addEventListener('drop', function (event) {
      event.preventDefault();
      var files = event.dataTransfer && event.dataTransfer.files;
      if (!files || !files.length) return;
      var kept = new DataTransfer();
      kept.items.add(files[0]);
      input.files = kept.files;
      show();
      input.dispatchEvent(new Event('change', { bubbles: true }));
    });
    input.addEventListener('change', show);
  }

  function wire(root) {
    root.querySelectorAll('[data-drop-zone]').forEach(wireDropZone);
  }

  document.addEventListener('DOMContentLoaded', function () {
    wire(document);
  });
  document.addEventListener('htmx:load', function (event) {
    wire(event.target);
  });
  // Once per new step: to the error summary if there is one, else to the preview's heading.
  document.addEventListener('htmx:afterSettle', function () {
    var focus = document.querySelector('.error-summary:not([data-focused])') ||
      document.querySelector('#import-preview-title:not([data-focused])');
    if (!focus) return;
    focus.dataset.focused = 'yes';
    focus.focus();
  });
})();
