// The import's progress bar (GET /import/jobs/{job}): asks the appliance
// how far the commit is (GET /import/jobs/{job}/progress, JSON) twice a
// second and moves the bar; when the commit is done it loads the page
// again, which then shows the result. Without this script the page's
// Refresh link does the same by hand.
(function () {
  'use strict';
  var box = document.getElementById('import-job');
  var bar = document.getElementById('import-progress');
  var text = document.getElementById('import-progress-text');
  if (!box || !bar || box.getAttribute('data-finished')) {
    return;
  }
  var url = '/import/jobs/' + encodeURIComponent(box.getAttribute('data-job')) + '/progress';
  var timer = 0;
  function ask() {
    fetch(url, {credentials: 'same-origin', cache: 'no-store', headers: {'Accept': 'application/json'}})
      .then(function (r) {
        return r.ok ? r.json() : null;
      })
      .then(function (p) {
        if (!p) {
          return; // signed out or gone: the countdown's check takes over
        }
        if (p.total > 0) {
          bar.max = p.total;
          bar.value = p.finished ? p.total : p.done;
          bar.textContent = p.done + ' of ' + p.total;
          if (text) {
            text.textContent = p.finished ? 'Done.' : p.done + ' of ' + p.total + ' rows…';
          }
        }
        if (p.finished) {
          window.clearInterval(timer);
          window.location.replace(window.location.pathname);
        }
      })
      .catch(function () {});
  }
  timer = window.setInterval(ask, 500);
  ask();
}());
