"""``{% cache %}``: a fragment drawn once per key, the same text as without the cache."""

from __future__ import annotations

from jinja2 import Environment

from lvs.web.fragments import FragmentCache, FragmentCacheExtension

SOURCE = (
    "{% for x in items %}[{% cache x.id, x.name %}{{ x.name }}#{{ calls() }}{% endcache %}]"
    "{% endfor %}"
)


class _Counter:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> int:
        self.n += 1
        return self.n


def _env() -> Environment:
    env = Environment(extensions=[FragmentCacheExtension], autoescape=True)
    return env


def test_a_fragment_is_drawn_once_per_key_and_again_when_a_value_changes() -> None:
    env = _env()
    calls = _Counter()
    template = env.from_string(SOURCE)
    a, b = {"id": 1, "name": "A"}, {"id": 2, "name": "<B>"}
    assert template.render(items=[a, b], calls=calls) == "[A#1][&lt;B&gt;#2]"
    assert template.render(items=[a, b], calls=calls) == "[A#1][&lt;B&gt;#2]"  # cached
    assert calls.n == 2
    b["name"] = "C"
    assert template.render(items=[a, b], calls=calls) == "[A#1][C#3]"


def test_the_same_values_in_two_places_are_two_fragments() -> None:
    env = _env()
    calls = _Counter()
    template = env.from_string(
        "{% cache 1 %}x{{ calls() }}{% endcache %}{% cache 1 %}y{% endcache %}"
    )
    assert template.render(calls=calls) == "x1y"


def test_the_cache_is_bounded() -> None:
    cache = FragmentCache(limit=3)
    for k in range(10):
        assert cache.get_or_render((k,), lambda k=k: str(k)) == str(k)  # type: ignore[misc]
        assert len(cache.fragments) <= 3
    assert cache.misses == 10 and cache.hits == 0


def test_a_fill_value_is_the_one_thing_that_differs_between_browsers() -> None:
    """The CSRF field of each browser, in a fragment drawn once for all of them."""
    env = _env()
    calls = _Counter()
    template = env.from_string(
        "{% cache x fill token %}<form>{{ token | safe }}#{{ calls() }}</form>{% endcache %}"
    )
    first = '<input name="t" value="aaa" />'
    second = '<input name="t" value="bbb" />'
    assert template.render(x=1, token=first, calls=calls) == f"<form>{first}#1</form>"
    assert template.render(x=1, token=second, calls=calls) == f"<form>{second}#1</form>"
    assert template.render(x=1, token=first, calls=calls) == f"<form>{first}#1</form>"
    assert calls.n == 1
    assert template.render(x=2, token=second, calls=calls) == f"<form>{second}#2</form>"
    stored = env.fragment_cache.fragments.values()  # type: ignore[attr-defined]
    assert all(first not in text and second not in text for text in stored)
