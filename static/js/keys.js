// Keyboard and remote-control comfort, on top of pages that work without it.
// - Arrow keys move focus between the cards of a grid or a row (a TV remote's D-pad sends them):
//   left/right to the previous/next card, up/down to the card above/below.
// - After an in-place (htmx) update, focus stays on the control that changed: htmx moves it to
//   the element with the same id; when there is none (the last page has no "Next"), it goes to
//   the swapped part's [tabindex="-1"] landmark instead of falling to <body>.
// - Escape closes an open "Rate" disclosure, menu or filter sheet and returns focus to it;
//   a click elsewhere closes an open "Rate" disclosure or menu.
(function () {
  "use strict";
  var CARD = "li.card";
  var LISTS = "ul.grid, ul.strip";

  function cardLink(card) { return card && card.querySelector("a.card-link"); }

  function centre(el) {
    var r = el.getBoundingClientRect();
    return { x: r.left + r.width / 2, y: r.top + r.height / 2 };
  }

  function neighbour(card, key) {
    var list = card.closest(LISTS);
    if (!list) return null;
    var cards = Array.prototype.filter.call(list.children, function (c) { return c.matches(CARD); });
    var i = cards.indexOf(card);
    if (key === "ArrowLeft") return cards[i - 1] || null;
    if (key === "ArrowRight") return cards[i + 1] || null;
    // Up/down: the nearest card in the next row (by the centres on screen).
    var here = centre(card), best = null, bestScore = Infinity;
    cards.forEach(function (other) {
      if (other === card) return;
      var c = centre(other), dy = c.y - here.y;
      if (key === "ArrowDown" ? dy <= 1 : dy >= -1) return;
      var score = Math.abs(dy) * 4 + Math.abs(c.x - here.x);
      if (score < bestScore) { best = other; bestScore = score; }
    });
    return best;
  }

  document.addEventListener("keydown", function (e) {
    if (e.altKey || e.ctrlKey || e.metaKey || e.shiftKey) return;
    var t = e.target;
    if (e.key === "Escape") {
      var open = t.closest && t.closest("details[open]");
      if (open && (open.matches(".rate, .menu, .more-filters"))) {
        open.open = false;
        open.querySelector("summary").focus();
        e.preventDefault();
      }
      return;
    }
    if (["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown"].indexOf(e.key) < 0) return;
    // Only from a card's own link: inside forms, selects and the stars, arrows keep their use.
    if (!t.matches || !t.matches(CARD + " > a.card-link")) return;
    var next = cardLink(neighbour(t.closest(CARD), e.key));
    if (next) {
      e.preventDefault();
      next.focus();
      next.scrollIntoView({ block: "nearest", inline: "nearest" });
    }
  });

  document.addEventListener("click", function (e) {
    document.querySelectorAll("details.rate[open], details.menu[open]").forEach(function (d) {
      if (!d.contains(e.target)) d.open = false;
    });
  });

  document.addEventListener("htmx:afterSettle", function (e) {
    var active = document.activeElement;
    if (active && active !== document.body) return;
    var target = e.target;
    if (!target || !target.isConnected) return;
    var landing = target.matches("[tabindex='-1']") ? target : target.querySelector("[tabindex='-1']");
    if (landing) landing.focus({ preventScroll: true });
  });
})();
