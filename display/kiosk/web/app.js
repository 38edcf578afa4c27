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
  const qrImg = $('qr');

  let qrContent = '';
  let qrExpires = NaN;
  let qrTicker = 0;

  qrImg.addEventListener('load', () => qrImg.classList.remove('loading'));

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
    if (scene === 'qr' && s.qr && s.qr.content) {
      showQR(s.qr.content, Date.parse(s.qr.expires_at));
    } else {
      clearQR();
    }
    body.dataset.scene = scene;
  }

  function showQR(content, expires) {
    if (content !== qrContent) {
      qrContent = content;
      qrImg.classList.add('loading');
      qrImg.src = '/qr.png?c=' + encodeURIComponent(content);
    }
    qrExpires = expires;
    tickQR();
    if (!qrTicker) qrTicker = setInterval(tickQR, 250);
  }

  function clearQR() {
    if (qrTicker) clearInterval(qrTicker);
    qrTicker = 0;
    qrContent = '';
    qrExpires = NaN;
    qrImg.removeAttribute('src');
    qrImg.classList.add('loading');
    qrScene.classList.remove('is-expired');
  }

  // tickQR shows the seconds left until qr.expires_at, and hides the code once it has expired.
  function tickQR() {
    const timer = $('qr-timer');
    if (Number.isNaN(qrExpires)) {
      timer.hidden = true;
      qrScene.classList.remove('is-expired');
      return;
    }
    const left = Math.max(0, Math.ceil((qrExpires - Date.now()) / 1000));
    timer.hidden = false;
    $('qr-seconds').textContent = String(left);
    $('qr-seconds-en').textContent = String(left);
    qrScene.classList.toggle('is-expired', left === 0);
  }

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
      if (s && typeof s === 'object') render(s);
    };
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
    }, STALE_MS);
  }

  connect();
})();
