/* lvs watch page: scrub previews. While the pointer is over the timeline (a thin bar this
   script adds under the video, or the native controls' strip at the bottom of the video), the
   frame at that time shows above it, cut from the sprite that the video's
   <track kind="metadata" label="previews"> indexes. Without it: the native controls as they are.
   No library; ES2017, CSP-safe (styles set through the CSSOM). */
(() => {
  'use strict';
  const video = document.querySelector('video#player');
  const track = video && video.querySelector('track[kind="metadata"][label="previews"]');
  if (!track) return;
  const box = video.parentElement;
  const NATIVE_STRIP = 48; // px at the bottom of the video where the native timeline is
  const INSET = 16;        // px the native timeline keeps from each side

  // -- the index: [{start, end, url, x, y, w, h}], fetched on first use
  let cues = null;
  let loading = null;
  const sec = (h, m, s, ms) => (+h) * 3600 + (+m) * 60 + (+s) + (+ms) / 1000;
  const parse = (text, base) => {
    const out = [];
    const re = /(\d+):(\d\d):(\d\d)\.(\d{3})\s*-->\s*(\d+):(\d\d):(\d\d)\.(\d{3})[^\n]*\n([^\n#]+)#xywh=(\d+),(\d+),(\d+),(\d+)/g;
    let m;
    while ((m = re.exec(text))) {
      out.push({
        start: sec(m[1], m[2], m[3], m[4]), end: sec(m[5], m[6], m[7], m[8]),
        url: new URL(m[9].trim(), base).href, x: +m[10], y: +m[11], w: +m[12], h: +m[13],
      });
    }
    return out;
  };
  const load = () => loading || (loading = fetch(track.src, { credentials: 'same-origin' })
    .then((r) => (r.ok ? r.text() : ''))
    .then((text) => { cues = parse(text, track.src); })
    .catch(() => { cues = []; }));
  const cueAt = (t) => {
    if (!cues || !cues.length) return null;
    for (const c of cues) if (t < c.end) return c;
    return cues[cues.length - 1];
  };
  const duration = () => (isFinite(video.duration) && video.duration > 0
    ? video.duration : parseFloat(video.dataset.duration) || 0);
  const clock = (s) => {
    const t = Math.max(0, Math.floor(s));
    const h = Math.floor(t / 3600);
    const mm = String(Math.floor((t % 3600) / 60));
    const ss = String(t % 60).padStart(2, '0');
    return h ? `${h}:${mm.padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
  };

  // -- the elements: a thin bar under the video, and the preview above the pointer
  if (getComputedStyle(box).position === 'static') box.style.position = 'relative';
  const bar = document.createElement('div');
  bar.className = 'scrub-bar';
  bar.setAttribute('aria-hidden', 'true'); // a pointer aid; the native controls stay the way to seek
  Object.assign(bar.style, {
    position: 'relative', height: '10px', marginTop: '4px', cursor: 'pointer',
    background: 'rgba(128,128,128,.45)', borderRadius: '5px', touchAction: 'none',
  });
  const fill = document.createElement('div');
  Object.assign(fill.style, {
    position: 'absolute', left: '0', top: '0', bottom: '0', width: '0',
    background: '#e0403a', borderRadius: '5px', pointerEvents: 'none',
  });
  bar.appendChild(fill);
  video.insertAdjacentElement('afterend', bar);

  const preview = document.createElement('div');
  preview.className = 'scrub-preview';
  preview.hidden = true;
  Object.assign(preview.style, {
    position: 'absolute', zIndex: '5', pointerEvents: 'none', backgroundRepeat: 'no-repeat',
    border: '2px solid #fff', borderRadius: '4px', boxShadow: '0 2px 8px rgba(0,0,0,.5)',
  });
  const label = document.createElement('span');
  Object.assign(label.style, {
    position: 'absolute', left: '0', right: '0', bottom: '2px', textAlign: 'center',
    font: '12px/1.4 system-ui, sans-serif', color: '#fff', textShadow: '0 0 3px #000',
  });
  preview.appendChild(label);
  box.appendChild(preview);

  const show = (fraction, bottom, clientX) => {
    const total = duration();
    if (!total) return;
    const t = Math.min(Math.max(fraction, 0), 1) * total;
    load().then(() => {
      const c = cueAt(t);
      if (!c) return;
      Object.assign(preview.style, {
        width: `${c.w}px`, height: `${c.h}px`, backgroundImage: `url("${c.url}")`,
        backgroundPosition: `-${c.x}px -${c.y}px`,
      });
      const rect = box.getBoundingClientRect();
      const left = Math.min(Math.max(clientX - rect.left - c.w / 2, 0), rect.width - c.w);
      preview.style.left = `${left}px`;
      preview.style.top = `${bottom - c.h - 8}px`;
      preview.dataset.time = t.toFixed(2);
      label.textContent = clock(t);
      preview.hidden = false;
    });
  };
  const hide = () => { preview.hidden = true; };

  // Over the thin bar: preview; press or drag: seek.
  const barFraction = (e) => {
    const r = bar.getBoundingClientRect();
    return (e.clientX - r.left) / r.width;
  };
  let dragging = false;
  const seek = (fraction) => {
    const total = duration();
    if (total) video.currentTime = Math.min(Math.max(fraction, 0), 1) * total;
  };
  bar.addEventListener('pointermove', (e) => {
    show(barFraction(e), bar.offsetTop, e.clientX);
    if (dragging) seek(barFraction(e));
  });
  bar.addEventListener('pointerdown', (e) => {
    dragging = true;
    bar.setPointerCapture(e.pointerId);
    seek(barFraction(e));
  });
  const stop = () => { dragging = false; };
  bar.addEventListener('pointerup', stop);
  bar.addEventListener('pointercancel', stop);
  bar.addEventListener('pointerleave', () => { if (!dragging) hide(); });

  // Over the native controls' timeline strip at the bottom of the video.
  video.addEventListener('pointermove', (e) => {
    const r = video.getBoundingClientRect();
    if (!video.controls || e.clientY < r.bottom - NATIVE_STRIP) { hide(); return; }
    show((e.clientX - r.left - INSET) / (r.width - 2 * INSET),
      video.offsetTop + r.height - NATIVE_STRIP, e.clientX);
  });
  video.addEventListener('pointerleave', hide);

  const paint = () => {
    const total = duration();
    fill.style.width = total ? `${Math.min(100, (100 * video.currentTime) / total)}%` : '0';
  };
  video.addEventListener('timeupdate', paint);
  video.addEventListener('seeked', paint);
})();
