"""``{% cache a, b, ... %}…{% endcache %}``: a template fragment drawn once per key.

Jinja's own fragment-cache extension (its documentation's example of an extension), keyed by
values rather than a name: the fragment's output is kept under (which fragment, the values
listed) and handed back while those values are the same. The rule that makes it safe is the
template author's, checked in review and by tests: **the listed values are everything the
fragment reads**. A card's star form lists its widget (the video, the household's average,
the person's rating, where to come back to) and whether it answers an htmx POST; this
browser's CSRF field is its ``fill`` (kept out of the key and put back into the stored text,
so a first visit, which brings a new token, is served from the same fragments). Its picture
link lists the video's fields it shows. Nothing that
changes by itself (a clock, "3 min ago") goes in a fragment.

A library page's 24 cards were about half its render time (120 star buttons, 48 forms); drawn
from fragments, a page a browser has seen before costs a third of that.

The cache is one bounded dict per app (``environment.fragment_cache``, 6 000 fragments, a few
MB), emptied when full: a page is a few dozen fragments and a key is cheap to recompute, so no
LRU bookkeeping is paid on the hit path. Templates are rendered on the event loop's thread.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from jinja2 import nodes
from jinja2.environment import Environment
from jinja2.ext import Extension
from jinja2.parser import Parser
from markupsafe import Markup

__all__ = ["HOLE", "FragmentCache", "FragmentCacheExtension"]


HOLE = "\x00fill\x00"
"""Where a fragment's ``fill`` value stands while it is stored (no page holds a NUL)."""


class FragmentCache:
    """Rendered fragments by key, at most ``limit`` of them (cleared when that is reached)."""

    def __init__(self, limit: int = 6_000) -> None:
        self.limit = limit
        self.fragments: dict[tuple[Any, ...], str] = {}
        self.hits = 0
        self.misses = 0

    def get_or_render(
        self, key: tuple[Any, ...], render: Callable[[], str], fill: str | None = None
    ) -> str:
        """The fragment stored under ``key``, else ``render()``'s, stored. A ``fill`` value (a
        browser's CSRF field) is stored as a hole and put back on the way out, so that one
        fragment serves every browser, a first visit included."""
        found = self.fragments.get(key)
        if found is not None:
            self.hits += 1
            if fill is None:
                return found
            # The stored text was the template's own output (escaped where it had to be), and
            # the fill is what the template printed there as HTML: the same text as a render.
            return Markup(str.replace(found, HOLE, fill))  # noqa: S704
        self.misses += 1
        text = render()
        if len(self.fragments) >= self.limit:
            self.fragments.clear()
        self.fragments[key] = text if fill is None else str.replace(text, fill, HOLE)
        return text


class FragmentCacheExtension(Extension):
    """``{% cache a, b %}…{% endcache %}``; ``{% cache a, b fill value %}`` for a fragment that
    also shows ``value`` (verbatim, as the page's own HTML) and is the same for every value."""

    tags = {"cache"}

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.extend(fragment_cache=FragmentCache())
        self._numbers = itertools.count()

    def parse(self, parser: Parser) -> nodes.Node:
        token = next(parser.stream)
        values = [parser.parse_expression()]
        while parser.stream.skip_if("comma"):
            values.append(parser.parse_expression())
        fill: nodes.Expr = nodes.Const(None)
        if parser.stream.skip_if("name:fill"):
            fill = parser.parse_expression()
        body = parser.parse_statements(("name:endcache",), drop_needle=True)
        # Which fragment: a number of its own (two tags on one line, or in two templates
        # compiled from strings, are still two fragments), and its template and line to read.
        where = nodes.Const((next(self._numbers), parser.name or "", token.lineno))
        call = self.call_method("_fragment", [where, nodes.Tuple(values, "load"), fill])
        return nodes.CallBlock(call, [], [], body).set_lineno(token.lineno)

    def _fragment(
        self, where: tuple[int, str, int], values: tuple[Any, ...], fill: Any, caller: Any
    ) -> str:
        cache: FragmentCache = self.environment.fragment_cache  # type: ignore[attr-defined]
        # (An empty fill would be "everywhere" in the text: a fill is a non-empty string.)
        return cache.get_or_render((where, *values), caller, str(fill) if fill else None)
