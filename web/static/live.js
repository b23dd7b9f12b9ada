// smsd's second script, for signed-in pages: the send page's counter (of
// the free text, or of the chosen template filled with its fields) and the
// live pages (outbox, inbox, status, appointments) that refresh by
// themselves. The
// pages work without it: the counter then shows after sending the form,
// and a reload shows what changed.
//
// The counter asks the appliance (POST /send/count), which counts with
// the same function the modem sends with: one source of truth, no copy of
// the GSM-7 table here.
//
// A live page listens to GET /events (server-sent events) and, when
// something changed, fetches itself again and swaps the content of <main>,
// unless the person is typing in one of its fields (then it waits until
// they leave it). The refresh is marked X-Smsd-Live so it does not keep
// the session alive: the countdown still signs out an unused screen.
(function () {
  'use strict';

  // --- The send page's counter -----------------------------------------
  var text = document.getElementById('text');
  var counter = document.getElementById('counter');
  if (text && counter) {
    var patient = document.getElementById('patient');
    var note = document.getElementById('ucs2-note');
    var ucs2Char = document.getElementById('ucs2-char');
    var timer = 0;
    var asked = 0; // the number of the latest question: older answers are dropped

    var plural = function (n, one, many) {
      return n + ' ' + (n === 1 ? one : many);
    };
    // A template chosen instead of free text: its fields and the filled
    // text count, and the text box is not used (hidden).
    var template = document.getElementById('template');
    var fields = document.getElementById('template-fields');
    var textBox = document.getElementById('text-box');
    var preview = document.getElementById('template-preview');
    var previewBox = document.getElementById('template-preview-box');
    var clinicalNote = document.getElementById('clinical-note');
    var clinicalWords = document.getElementById('clinical-words');
    var usingTemplate = function () {
      return !!template && template.value !== '0' && template.value !== '';
    };
    var arrange = function () {
      if (fields) {
        fields.hidden = !usingTemplate();
      }
      if (textBox) {
        // The counter lives in the text box: it stays, the box's field goes.
        text.hidden = usingTemplate();
        var label = textBox.querySelector('label');
        if (label) {
          label.hidden = usingTemplate();
        }
      }
    };
    var show = function (c) {
      counter.textContent = plural(c.chars, 'character', 'characters') + ' · ' +
        plural(c.parts, 'part', 'parts') + ' · ' + (c.encoding || 'GSM-7') +
        (c.too_long ? ' · too long' : '');
      counter.classList.toggle('too-long', !!c.too_long);
      if (note && ucs2Char) {
        ucs2Char.textContent = c.ucs2_char || '';
        note.hidden = !c.ucs2_char;
      }
      if (preview && previewBox) {
        preview.textContent = c.preview || '';
        previewBox.hidden = !c.preview;
      }
      if (clinicalNote && clinicalWords) {
        clinicalWords.textContent = (c.clinical || []).join(', ');
        clinicalNote.hidden = !(c.clinical && c.clinical.length);
      }
    };
    var count = function () {
      var n = ++asked;
      var body = new URLSearchParams();
      body.set('text', text.value);
      if (patient) {
        body.set('patient', patient.value);
      }
      if (usingTemplate()) {
        body.set('template_id', template.value);
        var inputs = fields ? fields.querySelectorAll('input') : [];
        for (var i = 0; i < inputs.length; i++) {
          body.set(inputs[i].name, inputs[i].value);
        }
      }
      fetch('/send/count', {
        method: 'POST', credentials: 'same-origin', cache: 'no-store',
        headers: {'Accept': 'application/json'}, body: body
      }).then(function (r) {
        return r.ok ? r.json() : null;
      }).then(function (c) {
        if (c && n === asked) {
          show(c);
        }
      }).catch(function () {}); // the box is unreachable for a moment: keep the last count
    };
    var later = function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(count, 250);
    };
    text.addEventListener('input', later);
    if (patient) {
      patient.addEventListener('input', later);
    }
    if (fields) {
      fields.addEventListener('input', later);
    }
    if (template) {
      template.addEventListener('change', function () {
        arrange();
        count();
      });
    }
    arrange();
  }

  // --- Live pages ---------------------------------------------------------
  var main = document.querySelector('main[data-live]');
  if (!main || !('EventSource' in window)) {
    return;
  }
  var page = main.getAttribute('data-live');
  var pending = false;
  var fetching = false;

  // typing reports whether the person is using one of main's fields: a
  // field has the focus, or holds what they typed and did not send yet.
  function typing() {
    var a = document.activeElement;
    if (a && main.contains(a) && /^(INPUT|TEXTAREA|SELECT)$/.test(a.tagName)) {
      return true;
    }
    var fields = main.querySelectorAll('input, textarea, select');
    for (var i = 0; i < fields.length; i++) {
      var f = fields[i];
      if (f.tagName === 'SELECT') {
        // A list without a selected option shows its first one.
        var first = -1;
        for (var j = 0; j < f.options.length; j++) {
          if (f.options[j].defaultSelected) {
            first = j;
            break;
          }
        }
        if (f.selectedIndex !== (first < 0 ? 0 : first)) {
          return true;
        }
      } else if (f.type !== 'hidden' && f.value !== f.defaultValue) {
        return true;
      }
    }
    return false;
  }

  // key names an element so that its twin is found in the new content.
  function key(el) {
    if (el.id) {
      return '#' + el.id;
    }
    return el.tagName + '|' + (el.getAttribute('href') || '') + '|' +
      (el.form ? el.form.getAttribute('action') : '') + '|' + (el.getAttribute('value') || '');
  }

  function refresh() {
    if (fetching) {
      pending = true;
      return;
    }
    if (typing()) {
      pending = true; // after they leave the field
      return;
    }
    pending = false;
    fetching = true;
    fetch(window.location.pathname + window.location.search, {
      credentials: 'same-origin', cache: 'no-store', redirect: 'manual',
      headers: {'Accept': 'text/html', 'X-Smsd-Live': '1'}
    }).then(function (r) {
      if (r.type === 'opaqueredirect' || r.status >= 500 || r.status === 401) {
        return null; // signed out or busy: the countdown's check takes over
      }
      return r.text();
    }).then(function (html) {
      if (!html || typing()) {
        pending = pending || !!html;
        return;
      }
      var doc = new DOMParser().parseFromString(html, 'text/html');
      var fresh = doc.querySelector('main');
      if (!fresh) {
        return;
      }
      var focused = document.activeElement && main.contains(document.activeElement) ? key(document.activeElement) : '';
      var nodes = [];
      for (var i = 0; i < fresh.childNodes.length; i++) {
        nodes.push(document.importNode(fresh.childNodes[i], true));
      }
      main.replaceChildren.apply(main, nodes);
      if (focused) {
        var all = main.querySelectorAll('a, button, input, select, textarea');
        for (var k = 0; k < all.length; k++) {
          if (key(all[k]) === focused) {
            all[k].focus({preventScroll: true});
            break;
          }
        }
      }
      var badge = document.getElementById('inbox-unread');
      var freshBadge = doc.getElementById('inbox-unread');
      if (badge && freshBadge) {
        badge.textContent = freshBadge.textContent;
        badge.className = freshBadge.className;
      }
    }).catch(function () {}).then(function () {
      fetching = false;
    });
  }

  main.addEventListener('focusout', function () {
    if (pending) {
      window.setTimeout(refresh, 100); // the focus has moved on by then
    }
  });
  window.setInterval(function () {
    if (pending) {
      refresh();
    }
  }, 3000);

  var events = new EventSource('/events');
  events.onmessage = function (e) {
    var m;
    try {
      m = JSON.parse(e.data);
    } catch (err) {
      return;
    }
    if (m.kind === 'ended') {
      events.close();
      window.location.replace('/signin?ended=1');
    } else if (m.kind === 'change' || (m.kind === 'status' && page === '/status')) {
      refresh();
    }
  };
  window.addEventListener('pagehide', function () {
    events.close();
  });
}());
