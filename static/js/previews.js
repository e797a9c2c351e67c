/* lvs cards: hover previews. While the pointer rests on a card's picture (after 400 ms) or its
   link has keyboard focus, a few frames of the video cycle over the thumbnail, cut from its scrub
   preview sprite. Links opt in with data-previews="<the WebVTT index's URL>"; nothing is
   fetched before a preview starts. Off when the user prefers reduced motion or saves data.
   No library; ES2017, CSP-safe (styles set through the CSSOM). */
(() => {
  'use strict';
  const DELAY = 400;  // ms of resting before a preview starts
  const STEP = 700;   // ms per frame
  const FRAMES = 8;   // frames shown, spread over the video
  const motion = window.matchMedia ? matchMedia('(prefers-reduced-motion: reduce)') : null;
  const allowed = () => !(motion && motion.matches)
    && !(navigator.connection && navigator.connection.saveData);

  const indexes = new Map(); // VTT URL -> Promise of [{url, x, y, w, h}]
  const sec = (h, m, s, ms) => (+h) * 3600 + (+m) * 60 + (+s) + (+ms) / 1000;
  const parse = (text, base) => {
    const out = [];
    const re = /(\d+):(\d\d):(\d\d)\.(\d{3})\s*-->[^\n]*\n([^\n#]+)#xywh=(\d+),(\d+),(\d+),(\d+)/g;
    let m;
    while ((m = re.exec(text))) {
      out.push({ start: sec(m[1], m[2], m[3], m[4]), url: new URL(m[5].trim(), base).href,
        x: +m[6], y: +m[7], w: +m[8], h: +m[9] });
    }
    return out;
  };
  const load = (href) => {
    const url = new URL(href, location.href).href;
    if (!indexes.has(url)) {
      indexes.set(url, fetch(url, { credentials: 'same-origin' })
        .then((r) => (r.ok ? r.text() : ''))
        .then((text) => parse(text, url))
        .catch(() => []));
    }
    return indexes.get(url);
  };
  const pick = (cues) => {
    if (cues.length <= FRAMES) return cues;
    const out = [];
    for (let i = 0; i < FRAMES; i += 1) out.push(cues[Math.floor(((i + 0.5) * cues.length) / FRAMES)]);
    return out;
  };

  let current = null; // {link, timer, overlay}
  const stop = () => {
    if (!current) return;
    clearTimeout(current.timer);
    clearInterval(current.interval);
    if (current.overlay) current.overlay.remove();
    current = null;
  };
  const play = (state) => {
    const link = state.link;
    load(link.dataset.previews).then((cues) => {
      if (current !== state || !cues.length) return;
      const img = link.querySelector('img');
      if (!img) return;
      const frames = pick(cues);
      const sheetW = Math.max(...cues.map((c) => c.x + c.w));
      const sheetH = Math.max(...cues.map((c) => c.y + c.h));
      // Over the picture, inside whatever holds it (so offsets are the picture's own).
      const host = img.parentElement;
      if (getComputedStyle(host).position === 'static') host.style.position = 'relative';
      const overlay = document.createElement('span');
      overlay.className = 'card-preview';
      overlay.setAttribute('aria-hidden', 'true');
      Object.assign(overlay.style, {
        position: 'absolute', left: `${img.offsetLeft}px`, top: `${img.offsetTop}px`,
        width: `${img.offsetWidth}px`, height: `${img.offsetHeight}px`,
        backgroundImage: `url("${frames[0].url}")`, backgroundRepeat: 'no-repeat',
        pointerEvents: 'none', borderRadius: getComputedStyle(img).borderRadius,
      });
      let i = 0;
      const show = () => {
        const c = frames[i % frames.length];
        const sx = img.offsetWidth / c.w;
        const sy = img.offsetHeight / c.h;
        overlay.style.backgroundSize = `${sheetW * sx}px ${sheetH * sy}px`;
        overlay.style.backgroundPosition = `${-c.x * sx}px ${-c.y * sy}px`;
        overlay.dataset.frame = String(i % frames.length);
        overlay.dataset.time = c.start.toFixed(2);
        i += 1;
      };
      show();
      host.appendChild(overlay);
      state.overlay = overlay;
      state.interval = setInterval(show, STEP);
    });
  };
  const start = (link, delay) => {
    if (current && current.link === link) return;
    stop();
    if (!allowed()) return;
    const state = { link, timer: 0, interval: 0, overlay: null };
    current = state;
    state.timer = setTimeout(() => play(state), delay);
  };

  const linkOf = (target) => (target instanceof Element ? target.closest('[data-previews]') : null);
  document.addEventListener('pointerover', (e) => {
    const link = linkOf(e.target);
    if (link && e.pointerType !== 'touch') start(link, DELAY);
  });
  document.addEventListener('pointerout', (e) => {
    const link = linkOf(e.target);
    if (link && current && current.link === link && !link.contains(e.relatedTarget)) stop();
  });
  document.addEventListener('focusin', (e) => {
    const link = linkOf(e.target);
    if (link && link.matches(':focus-visible')) start(link, 0);
  });
  document.addEventListener('focusout', (e) => {
    const link = linkOf(e.target);
    if (link && current && current.link === link) stop();
  });
})();
