"""The queue's rules (lvs.services.queue): which list a URL names, the order a shuffle seed
gives, what comes before and after a place, with and without loop."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest

from lvs.services.errors import InvalidInput
from lvs.services.queue import (
    Queue,
    QueueRef,
    locate,
    neighbours,
    parse_ref,
    play_order,
    shown_places,
    window,
)


@pytest.mark.parametrize(
    ("raw", "ref"),
    [
        ("p12", QueueRef("playlist", "12")),
        ("season:the-kiln:2", QueueRef("season", "the-kiln", 2)),
        ("season:a:b:0", QueueRef("season", "a:b", 0)),  # a show key may hold a colon
        ("show:the-kiln", QueueRef("show", "the-kiln")),
        ("folder:Trips/2024/", QueueRef("folder", "Trips/2024")),
    ],
)
def test_a_list_reads_back_as_it_is_written(raw: str, ref: QueueRef) -> None:
    assert parse_ref(raw) == ref
    assert parse_ref(str(ref)) == ref


@pytest.mark.parametrize(
    "raw",
    [
        "p0",
        "p-1",
        f"p{2**63}",
        "p1x",
        "playlist",
        "season:kiln",
        "season:kiln:x",
        "season::1",
        "season:kiln:99999",
        "show:",
        "folder:../etc",
        "folder:/etc",
        "folder:a/../b",
        "folder:",
        "tag:x",
    ],
)
def test_a_bad_list_names_the_field(raw: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_ref(raw)
    assert caught.value.field == "list"


def test_order_as_listed_without_a_seed() -> None:
    assert play_order(4, None) == [0, 1, 2, 3]
    assert play_order(0, None) == []


def test_a_seed_always_gives_the_same_shuffle_of_every_place() -> None:
    first = play_order(20, 8123)
    assert first == play_order(20, 8123)
    assert sorted(first) == list(range(20))
    assert first != list(range(20))
    assert play_order(20, 8124) != first


@pytest.mark.parametrize(
    ("n", "i", "loop", "expect"),
    [
        (3, 0, False, (None, 1)),
        (3, 1, False, (0, 2)),
        (3, 2, False, (1, None)),
        (3, 2, True, (1, 0)),
        (3, 0, True, (2, 1)),
        (1, 0, False, (None, None)),
        (1, 0, True, (0, 0)),
        (3, -1, False, (None, 0)),  # not in the list: next is the first
        (0, -1, False, (None, None)),
    ],
)
def test_neighbours(n: int, i: int, loop: bool, expect: tuple[int | None, int | None]) -> None:
    assert neighbours(n, i, loop) == expect


def test_locate_trusts_the_place_only_while_it_still_holds_the_video() -> None:
    ids = [5, 7, 5, 9]
    assert locate(ids, 5, 2) == 2  # the second time 5 is in the list
    assert locate(ids, 5, None) == 0
    assert locate(ids, 9, 0) == 3  # the list changed: found where it is now
    assert locate(ids, 9, 99) == 3
    assert locate(ids, 4, 1) is None


def test_a_queue_builds_the_query_of_each_place() -> None:
    q = Queue(
        QueueRef("season", "kiln", 1), "Kiln", 3, dict(enumerate("abc")), 2, shuffle=42, loop=True
    )
    assert (q.previous, q.next) == (1, 0)
    assert parse_qs(q.query(0)[1:]) == {
        "list": ["season:kiln:1"],
        "i": ["0"],
        "shuffle": ["42"],
        "loop": ["1"],
    }
    plain = Queue(QueueRef.playlist(3), "Mine", 2, dict(enumerate("ab")), None)
    assert (plain.previous, plain.next) == (None, 0)
    assert plain.query(1) == "?list=p3&i=1"


def test_a_page_loads_only_the_places_it_shows() -> None:
    """Two before the one playing and twenty after, plus the previous and next (which wrap
    around a looping list): a show of 500 episodes is 25 rows on a page, not 500."""
    assert window(500, 100) == range(98, 121)
    assert window(500, None) == range(0, 23)
    assert window(10, 8) == range(6, 10)
    assert shown_places(500, 100, loop=False) == set(range(98, 121))
    assert shown_places(500, 0, loop=True) == set(range(0, 23)) | {499}
    assert shown_places(500, 499, loop=True) == set(range(497, 500)) | {0}
    assert shown_places(0, None, loop=False) == set()
    q = Queue(QueueRef("show", "kiln"), "Kiln", 500, {k: str(k) for k in range(98, 121)}, 100)
    assert q.window == [(k, str(k)) for k in range(98, 121)]
