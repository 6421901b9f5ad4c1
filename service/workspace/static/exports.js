/* The export dialog: the download link of a finished export fetches the file with the
   signed-in user's token (a plain link would carry none) and saves it under its name. */
(function () {
  'use strict';

  document.addEventListener('click', function (event) {
    var link = event.target.closest && event.target.closest('a[data-authorised-download]');
    if (!link) return;
    event.preventDefault();
    var token = sessionStorage.getItem('civop.token');
    fetch(link.getAttribute('href'), { headers: token ? { Authorization: 'Bearer ' + token } : {} })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.blob();
      })
      .then(function (blob) {
        var url = URL.createObjectURL(blob);
        var save = document.createElement('a');
        save.href = url;
        save.download = link.getAttribute('download') || 'export';
        document.body.appendChild(save);
        save.click();
        save.remove();
        setTimeout(function () {
          URL.revokeObjectURL(url);
        }, 60000);
      })
      .catch(function () {
        var failed = link.closest('.export-job').querySelector('[data-download-failed]');
        if (failed) failed.hidden = false;
      });
  });
})();
