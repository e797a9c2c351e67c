/* lvs watch page: when the video ends, count down to the queue's "Next" link and follow it.
   The countdown is announced (#autoplay-status, a live region) and a real button cancels it;
   playing again cancels it too. Without this script the "Next" link is there to follow. */
(() => {
  'use strict';
  const video = document.querySelector('video#player');
  if (!video) return;
  // Arrived by the countdown: play on (a browser that refuses, waits for the play button).
  if (window.location.hash === '#autoplay') {
    window.history.replaceState(null, '', window.location.pathname + window.location.search);
    const started = video.play();
    if (started) started.catch(() => {});
  }
  const next = document.getElementById('next-link');
  const status = document.getElementById('autoplay-status');
  const cancel = document.getElementById('autoplay-cancel');
  if (!next || !status || !cancel) return;
  const SECONDS = 5;
  const title = next.dataset.title || 'the next video';
  let timer = 0;

  const stop = (message) => {
    if (!timer) return;
    clearInterval(timer);
    timer = 0;
    cancel.hidden = true;
    status.textContent = message;
  };

  video.addEventListener('ended', () => {
    if (timer) return;
    let left = SECONDS;
    status.textContent = `Next in ${left} s: ${title}`;
    cancel.hidden = false;
    timer = setInterval(() => {
      left -= 1;
      if (left > 0) {
        status.textContent = `Next in ${left} s: ${title}`;
        return;
      }
      clearInterval(timer);
      timer = 0;
      status.textContent = `Playing ${title}`;
      window.location.assign(`${next.href}#autoplay`);
    }, 1000);
  });
  cancel.addEventListener('click', () => stop('Autoplay cancelled.'));
  video.addEventListener('play', () => stop(''));
})();
