// smsd's only script: the session countdown and auto-logout. The pages
// work without it; it adds the countdown, the warning a minute before the
// end and the clearing of the page when the session ends.
//
// The server is the authority on the session: the countdown asks it
// (GET /session, which does not extend the session) every few seconds and
// counts from its answer, so tabs of one session agree, a PC with a wrong
// clock counts right, and a session ended elsewhere (signed out in
// another tab, ended by an admin) clears this page too.
(function () {
  'use strict';

  // A page restored from the back/forward cache is shown without asking
  // the server: ask it, which sends a signed-out browser to sign in.
  window.addEventListener('pageshow', function (event) {
    if (event.persisted) {
      window.location.reload();
    }
  });

  var countdown = document.getElementById('session-countdown');
  if (!countdown) {
    return; // not signed in: nothing to count
  }
  var warning = document.getElementById('session-warning');
  var stay = document.getElementById('stay-signed-in');
  var extendForm = document.getElementById('session-extend-form');
  var signoutForm = document.getElementById('signout-form');

  var POLL_MS = 5000;
  var WARN_MS = 60000;
  var endsAt = 0; // this browser's clock, from the server's ends_in_ms
  var asking = false;
  var returnFocus = null; // what had the focus before the warning took it
  var gone = false;
  var channel = null;
  if ('BroadcastChannel' in window) {
    channel = new BroadcastChannel('smsd-session');
    // Another tab extended or signed out: ask the server now, and once
    // more a moment later (a sign-out is announced as it is sent).
    channel.onmessage = function () {
      ask();
      window.setTimeout(ask, 1500);
    };
  }

  // ended clears what the page shows and replaces it in the history with
  // the sign-in page, so Back does not bring it back.
  function ended() {
    if (gone) {
      return;
    }
    gone = true;
    var main = document.querySelector('main');
    if (main) {
      main.textContent = '';
    }
    if (warning) {
      warning.hidden = true;
    }
    window.location.replace('/signin?ended=1');
  }

  function pad(n) {
    return n < 10 ? '0' + n : String(n);
  }

  function show() {
    if (!endsAt || gone) {
      return;
    }
    var left = endsAt - Date.now();
    if (left <= 0) {
      countdown.textContent = 'Signs out in 0:00';
      ask(); // the server says whether it really ended
      return;
    }
    var secs = Math.ceil(left / 1000);
    countdown.textContent = 'Signs out in ' + Math.floor(secs / 60) + ':' + pad(secs % 60);
    if (warning) {
      var warn = left <= WARN_MS;
      if (warn && warning.hidden) {
        warning.hidden = false;
        if (stay) {
          returnFocus = document.activeElement;
          stay.focus();
        }
      } else if (!warn && !warning.hidden) {
        warning.hidden = true;
        if (returnFocus && returnFocus.focus && document.activeElement === stay) {
          returnFocus.focus();
        }
        returnFocus = null;
      }
    }
  }

  // answer takes the server's answer about the session.
  function answer(response) {
    if (response.status === 401) {
      ended();
      return null;
    }
    return response.json().then(function (s) {
      if (response.status === 503 && s && s.code === 'locked') {
        ended(); // the appliance restarted locked: nothing may stay on screen
        return;
      }
      if (!response.ok || !s) {
        return; // busy or a hiccup: keep counting, ask again soon
      }
      if (s.ends_in_ms <= 0) {
        ended();
        return;
      }
      endsAt = Date.now() + s.ends_in_ms;
      show();
    });
  }

  function ask() {
    if (asking || gone) {
      return;
    }
    asking = true;
    fetch('/session', {credentials: 'same-origin', cache: 'no-store', headers: {'Accept': 'application/json'}})
      .then(answer)
      .catch(function () {}) // the box is unreachable for a moment: keep the last count
      .then(function () { asking = false; });
  }

  function extend(event) {
    event.preventDefault();
    fetch('/session/extend', {method: 'POST', credentials: 'same-origin', cache: 'no-store', headers: {'Accept': 'application/json'}})
      .then(answer)
      .then(function () {
        if (channel) {
          channel.postMessage('extended');
        }
      })
      .catch(function () {});
  }

  if (extendForm) {
    extendForm.addEventListener('submit', extend);
  }
  if (signoutForm && channel) {
    signoutForm.addEventListener('submit', function () {
      // This page is leaving: tell the other tabs now; they ask again
      // a moment later, when the sign-out is through.
      channel.postMessage('signout');
    });
  }
  document.addEventListener('visibilitychange', function () {
    if (document.visibilityState === 'visible') {
      ask(); // timers sleep in a hidden tab: catch up at once
    }
  });

  window.setInterval(show, 1000);
  window.setInterval(ask, POLL_MS);
  ask();
}());
