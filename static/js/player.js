/* lvs watch page: resume positions, view counting, keyboard shortcuts for video#player.
   Optional: without it the page still plays, rates and counts views. ES2017, CSP-safe. */
(() => {
  'use strict';
  const video = document.querySelector('video#player');
  if (!video) return;
  const data = video.dataset;
  const num = (v, d) => { const n = parseFloat(v); return isFinite(n) && n >= 0 ? n : d; };
  const threshold = num(data.viewThreshold, 30);
  const SAVE_EVERY = 10000; // ms between position reports while playing
  const duration = () => (isFinite(video.duration) && video.duration > 0
    ? video.duration : num(data.duration, 0));

  const token = () => {
    try { return JSON.parse(document.body.getAttribute('hx-headers') || '{}')['x-csrftoken'] || ''; }
    catch (e) { return ''; }
  };
  const post = (url, fields, beacon) => {
    if (!url) return;
    const body = new URLSearchParams(fields || {});
    body.set('_csrf_token', token());
    if (beacon && navigator.sendBeacon && navigator.sendBeacon(url, body)) return;
    fetch(url, { method: 'POST', body, credentials: 'same-origin', keepalive: true })
      .catch(() => {});
  };

  // -- resume position
  let sentAt = 0;     // Date.now() of the last report
  let dirty = false;  // moved since the last report (played or seeked)
  let seekTimer = 0;
  let started = false; // no reports before the first play: opening the page changes nothing
  const report = (force, beacon, seconds) => { // seconds: only given on 'ended'
    if (!dirty && seconds === undefined) return;
    if (!force && Date.now() - sentAt < SAVE_EVERY) return;
    const s = seconds === undefined ? video.currentTime : seconds;
    if (!isFinite(s)) return;
    sentAt = Date.now();
    dirty = false;
    post(data.positionUrl, { seconds: s.toFixed(2) }, beacon);
  };

  // -- view counting: played time, not seek jumps
  let played = 0;
  let last = video.currentTime;
  let viewed = false;
  const countView = () => {
    if (viewed) return;
    viewed = true;
    post(data.viewUrl, {});
  };

  video.addEventListener('timeupdate', () => {
    const now = video.currentTime;
    if (!video.paused && !video.seeking) {
      const step = now - last;
      if (step > 0 && step < 2) {
        played += step;
        dirty = true;
      }
      if (played >= threshold) countView();
      report(false);
    }
    last = now;
  });
  video.addEventListener('seeking', () => { last = video.currentTime; });
  video.addEventListener('play', () => {
    if (!started) sentAt = Date.now(); // first periodic report after 10 s of play
    started = true;
  });
  video.addEventListener('seeked', () => {
    last = video.currentTime;
    if (!started) return;
    dirty = true;
    clearTimeout(seekTimer); // scrubbing sends one report, a second after it stops
    seekTimer = setTimeout(() => report(true), 1000);
  });
  video.addEventListener('pause', () => { if (!video.ended) report(true); });
  video.addEventListener('ended', () => {
    clearTimeout(seekTimer);
    countView();
    report(true, false, duration()); // the server clears a position at the end
  });
  const leave = () => { clearTimeout(seekTimer); if (started) report(true, true); };
  window.addEventListener('pagehide', leave);
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'hidden') leave();
  });

  // -- keyboard
  const seekTo = (t) => {
    const end = duration();
    video.currentTime = Math.max(0, end ? Math.min(t, end) : t);
  };
  const toggle = () => {
    if (video.paused || video.ended) {
      const p = video.play();
      if (p) p.catch(() => {});
    } else {
      video.pause();
    }
  };
  const fullscreen = () => {
    const doc = document;
    if (doc.fullscreenElement || doc.webkitFullscreenElement) {
      (doc.exitFullscreen || doc.webkitExitFullscreen).call(doc);
      return;
    }
    const el = video;
    if (el.requestFullscreen) el.requestFullscreen().catch(() => {});
    else if (el.webkitRequestFullscreen) el.webkitRequestFullscreen();
    else if (el.webkitEnterFullscreen) el.webkitEnterFullscreen();
  };
  const typing = (el) => !!el && el.nodeType === 1 && (el.isContentEditable
    || !!el.closest('input, textarea, select, [contenteditable]:not([contenteditable="false"])'));
  let rateUntil = 0;

  document.addEventListener('keydown', (e) => {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) return;
    const key = e.key;
    if (key === 'Shift') return; // AZERTY digits need it, so R-then-digit must survive it
    const dialog = document.querySelector('dialog#shortcuts');
    if (key === '?') {
      if (dialog && dialog.showModal) {
        if (dialog.open) dialog.close(); else dialog.showModal();
        e.preventDefault();
      }
      return;
    }
    if (dialog && dialog.open) return;
    const t = e.target;
    if ((key === ' ' || key === 'Enter') && t !== video && t.closest
      && t.closest('a, button, summary')) return; // let the focused control activate
    if (rateUntil && Date.now() < rateUntil && /^[1-5]$/.test(key)) {
      rateUntil = 0;
      const star = document.querySelector('.watch .rating button[value="' + key + '"]');
      if (star) star.click();
      e.preventDefault();
      return;
    }
    rateUntil = 0;
    const k = key.length === 1 ? key.toLowerCase() : key;
    let done = true;
    if (k === 'j') seekTo(video.currentTime - 10);
    else if (k === 'l') seekTo(video.currentTime + 10);
    else if (k === 'ArrowLeft') seekTo(video.currentTime - 5);
    else if (k === 'ArrowRight') seekTo(video.currentTime + 5);
    else if (k === 'k' || k === ' ') toggle();
    else if (k === 'f') fullscreen();
    else if (k === 'm') video.muted = !video.muted;
    else if (k === 'r') rateUntil = Date.now() + 2000;
    else if (/^[0-9]$/.test(k) && duration()) seekTo(duration() * Number(k) / 10);
    else done = false;
    if (done) e.preventDefault();
  });

  // -- converted playback (HLS). Browsers with native HLS (Chromium, Safari, iOS, Android) need
  // nothing here. Elsewhere (Firefox) hls.js is loaded, only on pages that need it and only
  // then; ?player=hlsjs forces it, to try that path anywhere.
  const HLS = 'application/vnd.apple.mpegurl';
  const hlsSource = video.querySelector('source[type="' + HLS + '"]');
  const details = document.querySelector('.file-details .playback[data-direct]');
  video.addEventListener('loadedmetadata', () => {
    if (details && /\/stream(#|$)/.test(video.currentSrc)) details.textContent = details.dataset.direct;
  });
  const failure = document.getElementById('playback-error');
  video.addEventListener('error', () => setTimeout(() => { // a <source> that fails is no failure
    if (failure && (video.error || video.networkState === 3)) failure.hidden = false;
  }, 0), true);
  if (!hlsSource || !data.hlsjs) return;
  const forced = new URLSearchParams(location.search).get('player') === 'hlsjs';
  const direct = Array.prototype.some.call(video.querySelectorAll('source[data-kind="direct"]'),
    (s) => s.type && video.canPlayType(s.type) !== '');
  if (!forced && (direct || video.canPlayType(HLS) !== '')) return;
  if (!window.MediaSource && !window.ManagedMediaSource) return;
  const [url, fragment] = hlsSource.src.split('#');
  const start = num(((fragment || '').match(/t=([0-9.]+)/) || [])[1], -1);
  const script = document.createElement('script');
  script.src = data.hlsjs;
  script.onload = () => {
    const Hls = window.Hls;
    if (!Hls || !Hls.isSupported()) return;
    const hls = new Hls({ enableWorker: false, startPosition: start, maxBufferLength: 20 });
    hls.on(Hls.Events.ERROR, (_event, info) => {
      if (info.fatal && failure) failure.hidden = false;
    });
    hls.loadSource(url);
    hls.attachMedia(video);
    video.dataset.engine = 'hls.js';
  };
  document.head.appendChild(script);
})();
