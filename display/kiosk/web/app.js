// The kiosk page: follows the agent's Screens over Server-Sent Events (/events) and shows each
// scene by setting body[data-scene]; style.css displays the matching section. No dependencies.
'use strict';

(() => {
  // After this long without a connection the page turns black: better a plain mirror than stale
  // content (a QR code for a photo that is gone, "welcome" to nobody).
  const STALE_MS = 5000;
  // EventSource retries by itself after a network error; after a fatal one (an HTTP error, a wrong
  // content type) it gives up, and we open a new one after this long.
  const RETRY_MS = 2000;

  const body = document.body;
  const $ = (id) => document.getElementById(id);
  const qrScene = $('scene-qr');
  const qrRing = $('qr-ring');
  const qrImg = $('qr');

  // The agent's display settings (Options.Panel, QRSizeMM), from <meta name="fitmirror-display">.
  const cfg = (() => {
    try {
      return JSON.parse(document.querySelector('meta[name="fitmirror-display"]').content) || {};
    } catch (err) {
      return {};
    }
  })();

  // The QR provider's wording (Options.Wording): WeChat's is in the page; the local photo page
  // says the photo opens on the phone.
  const words = cfg.words || {};
  for (const [id, key] of [['scan-zh1', 'scan_zh1'], ['scan-zh2', 'scan_zh2'], ['scan-en', 'scan_en'],
    ['bound-zh', 'bound_zh'], ['bound-en', 'bound_en']]) {
    if (typeof words[key] === 'string' && words[key] !== '') $(id).textContent = words[key];
  }
  // The check mark in a font whose ✓ is a tick (WenQuanYi's looks like a thin √).
  for (const el of [$('bound-zh'), $('bound-en')]) {
    const parts = el.textContent.split('✓');
    if (parts.length < 2) continue;
    el.textContent = '';
    parts.forEach((part, i) => {
      if (i > 0) {
        const mark = document.createElement('span');
        mark.className = 'check';
        mark.textContent = '✓';
        el.append(mark);
      }
      el.append(part);
    });
  }

  // Timings of the last screens, for benchmarks and debugging: when the event arrived, when the
  // DOM was updated, and when the next frame was painted (performance.timeOrigin + now, in ms).
  const timings = [];
  window.kioskTimings = timings;

  let qrContent = '';
  let qrTarget = 0;
  let qrExpires = NaN;
  let qrIssued = NaN;
  let qrTicker = 0;

  qrImg.addEventListener('load', () => {
    // One image pixel on one device pixel: the server made every module a whole number of pixels.
    const dpr = window.devicePixelRatio || 1;
    qrImg.style.width = qrImg.naturalWidth / dpr + 'px';
    qrImg.style.height = qrImg.naturalHeight / dpr + 'px';
    qrImg.classList.remove('loading');
  });
  for (const img of document.querySelectorAll('img.photo')) {
    img.addEventListener('error', () => img.classList.add('missing'));
    img.addEventListener('load', () => img.classList.remove('missing'));
  }

  function render(s) {
    const scene = typeof s.scene === 'string' && s.scene !== '' ? s.scene : 'idle';
    // Fill in the dynamic parts first, then switch the scene, so it never shows half-done.
    switch (scene) {
      case 'countdown':
        $('countdown-number').textContent = s.countdown > 0 ? String(s.countdown) : '';
        break;
      case 'error':
        $('error-message').textContent = typeof s.message === 'string' ? s.message : '';
        break;
    }
    setPhoto($('review-photo'), scene === 'review' ? s.photo_id : '');
    setPhoto($('compare-a'), scene === 'compare' ? s.photo_id : '');
    setPhoto($('compare-b'), scene === 'compare' ? s.compare_photo_id : '');
    if (scene === 'qr' && s.qr && s.qr.content) {
      showQR(s.qr.content, Date.parse(s.qr.expires_at), s.qr.issued_at ? Date.parse(s.qr.issued_at) : NaN);
    } else {
      clearQR();
    }
    body.dataset.scene = scene;
  }

  // setPhoto shows the agent's photo id in img, or nothing. Photos never leave the agent: the
  // page loads them from its own loopback listener.
  function setPhoto(img, id) {
    const src = typeof id === 'string' && /^[0-9A-Za-z_-]{1,64}$/.test(id) ? '/photos/' + id + '.jpg' : '';
    if (img.getAttribute('src') === src || (!src && !img.hasAttribute('src'))) return;
    if (src) {
      img.classList.add('missing'); // until it has loaded
      img.src = src;
    } else {
      img.removeAttribute('src');
      img.classList.add('missing');
    }
  }

  // qrTargetPx is the largest size, in device pixels, the code may take: about a third of the
  // shorter side, and no more than cfg.qr_mm millimetres when the panel's size is known.
  function qrTargetPx() {
    const dpr = window.devicePixelRatio || 1;
    const w = innerWidth * dpr;
    const h = innerHeight * dpr;
    let px = Math.floor((w > h ? 0.32 : 0.34) * Math.min(w, h));
    let ppmm = 0;
    if (cfg.dpi > 0) ppmm = cfg.dpi / 25.4;
    else if (cfg.diagonal_in > 0) ppmm = Math.hypot(w, h) / (cfg.diagonal_in * 25.4);
    if (ppmm > 0 && cfg.qr_mm > 0) px = Math.min(px, Math.floor(ppmm * cfg.qr_mm));
    return Math.max(1, px);
  }

  function showQR(content, expires, issued) {
    const target = qrTargetPx();
    if (content !== qrContent || target !== qrTarget) {
      if (content !== qrContent) qrIssued = Number.isNaN(issued) ? Date.now() : issued;
      qrContent = content;
      qrTarget = target;
      qrImg.classList.add('loading');
      qrImg.src = '/qr.png?c=' + encodeURIComponent(content) + '&w=' + target;
    }
    if (!Number.isNaN(issued)) qrIssued = issued;
    qrExpires = expires;
    tickQR();
    if (!qrTicker) qrTicker = setInterval(tickQR, 250);
  }

  function clearQR() {
    if (qrTicker) clearInterval(qrTicker);
    qrTicker = 0;
    qrContent = '';
    qrTarget = 0;
    qrExpires = NaN;
    qrIssued = NaN;
    qrImg.removeAttribute('src');
    qrImg.classList.add('loading');
    qrScene.classList.remove('is-expired');
  }

  // tickQR shows the seconds left until qr.expires_at on the timer and the ring, and hides the
  // code once it has expired.
  function tickQR() {
    const timer = $('qr-timer');
    if (Number.isNaN(qrExpires)) {
      timer.hidden = true;
      qrScene.classList.remove('is-expired');
      qrRing.style.setProperty('--left', '1');
      return;
    }
    const now = Date.now();
    const left = Math.max(0, Math.ceil((qrExpires - now) / 1000));
    const total = qrExpires - qrIssued;
    const share = total > 0 ? Math.min(1, Math.max(0, (qrExpires - now) / total)) : 1;
    qrRing.style.setProperty('--left', share.toFixed(4));
    timer.hidden = false;
    $('qr-seconds').textContent = String(left);
    $('qr-seconds-en').textContent = String(left);
    qrScene.classList.toggle('is-expired', left === 0);
  }

  // When the window turns (portrait ↔ landscape) the code gets a new size.
  addEventListener('resize', () => {
    if (qrContent) showQR(qrContent, qrExpires, qrIssued);
  });

  // The air buttons (event "gesture", kiosk.ShowGestures): {"buttons":[{"action","box":{x,y,w,h},
  // "progress","fired"}]}, the box in mirror coordinates (0..1 of the screen, already flipped
  // from the camera's view). A button that fired shows its tick for FIRED_MS.
  const FIRED_MS = 1500;
  const gestures = $('gestures');
  const firedUntil = {};
  let lastGestures = { buttons: [] };

  function renderGestures(g) {
    lastGestures = g && Array.isArray(g.buttons) ? g : { buttons: [] };
    const now = Date.now();
    const shown = new Set();
    for (const b of lastGestures.buttons) {
      const el = b && typeof b.action === 'string' ? $('air-' + b.action) : null;
      if (!el || !b.box) continue;
      shown.add(el);
      const clamp = (v) => Math.min(1, Math.max(0, Number(v) || 0));
      el.style.left = (100 * clamp(b.box.x)) + '%';
      el.style.top = (100 * clamp(b.box.y)) + '%';
      el.style.width = (100 * clamp(b.box.w)) + '%';
      el.style.height = (100 * clamp(b.box.h)) + '%';
      const fired = (firedUntil[b.action] || 0) > now;
      el.classList.toggle('fired', fired);
      el.querySelector('.hold-ring').style.setProperty('--progress', fired ? '1' : clamp(b.progress).toFixed(3));
      el.hidden = false;
    }
    for (const el of gestures.querySelectorAll('.air-button')) {
      if (!shown.has(el)) el.hidden = true;
    }
    gestures.hidden = shown.size === 0;
  }
  // The tick goes after FIRED_MS even when no new feedback comes.
  setInterval(() => {
    if (Object.values(firedUntil).some((t) => t > 0 && t <= Date.now())) {
      for (const [a, t] of Object.entries(firedUntil)) if (t <= Date.now()) delete firedUntil[a];
      renderGestures(lastGestures);
    }
  }, 100);

  let source = null;
  let staleTimer = 0;
  let retryTimer = 0;

  function connect() {
    retryTimer = 0;
    source = new EventSource('/events');
    source.onopen = linkUp;
    source.onmessage = (ev) => {
      linkUp();
      let s;
      try {
        s = JSON.parse(ev.data);
      } catch (err) {
        console.warn('kiosk: bad event', err);
        return;
      }
      if (s && typeof s === 'object') {
        const t = { scene: s.scene, countdown: s.countdown, recv: performance.timeOrigin + ev.timeStamp };
        render(s);
        t.dom = performance.timeOrigin + performance.now();
        requestAnimationFrame(() => { t.paint = performance.timeOrigin + performance.now(); });
        timings.push(t);
        if (timings.length > 256) timings.shift();
      }
    };
    source.addEventListener('gesture', (ev) => {
      linkUp();
      try {
        const g = JSON.parse(ev.data);
        for (const b of (g && Array.isArray(g.buttons) ? g.buttons : [])) {
          if (b && b.fired && typeof b.action === 'string') firedUntil[b.action] = Date.now() + FIRED_MS;
        }
        renderGestures(g);
      } catch (err) {
        console.warn('kiosk: bad gesture event', err);
      }
    });
    // The fleet's reload-kiosk command: load the page (and its assets) again.
    source.addEventListener('reload', () => location.reload());
    source.onerror = () => {
      linkDown();
      if (source.readyState === EventSource.CLOSED && !retryTimer) {
        source.close();
        retryTimer = setTimeout(connect, RETRY_MS);
      }
    };
  }

  function linkUp() {
    if (staleTimer) clearTimeout(staleTimer);
    staleTimer = 0;
    body.dataset.link = 'up';
  }

  function linkDown() {
    if (staleTimer) return;
    staleTimer = setTimeout(() => {
      staleTimer = 0;
      body.dataset.link = 'lost';
      render({ scene: 'idle' });
      renderGestures({ buttons: [] });
    }, STALE_MS);
  }

  // A tap on the glass takes a photo; a long press (0.6 s) puts the photo beside an earlier one.
  // The agent serves POST /api/trigger; a page without it (tests, previews) ignores the tap.
  const TAPPABLE = new Set(['welcome', 'qr', 'bound', 'compare', 'error', 'review']);
  let downAt = 0;
  document.addEventListener('pointerdown', () => { downAt = Date.now(); });
  document.addEventListener('pointerup', () => {
    if (!downAt || !TAPPABLE.has(body.dataset.scene)) return;
    const action = Date.now() - downAt >= 600 ? 'compare' : 'photo';
    downAt = 0;
    fetch('/api/trigger', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ action }),
    }).catch(() => {});
  });

  connect();
})();
