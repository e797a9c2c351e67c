"""Profiles in real Chromium, with JavaScript on and off: "Who's watching?" on a second device,
switching from the header's profile chip, a PIN asked and refused, and a kids' profile that sees
only its folder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import ServeFn
from playwright.sync_api import Browser, BrowserContext, Page, expect

from lvs.settings import Settings

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def base(serve_app: ServeFn, scanned: Settings) -> str:
    return serve_app(scanned)


@pytest.fixture(params=[True, False], ids=["js", "no-js"])
def contexts(request: pytest.FixtureRequest, browser: Browser) -> Iterator[list[BrowserContext]]:
    """Two devices of the household (two contexts: their own cookies), a laptop and a phone,
    JavaScript on or off."""
    made = [
        browser.new_context(viewport=size, java_script_enabled=request.param)
        for size in (DESKTOP, PHONE)
    ]
    yield made
    for ctx in made:
        ctx.close()


def set_up_household(page: Page, base: str) -> None:
    """Mum (the first profile, so this device is Mum), Dad with a PIN, Kids in ``sub`` only:
    through the JSON API, which shares this device's cookies."""
    api = page.request
    assert api.post(f"{base}/api/profiles", data={"name": "Mum", "avatar": "purple"}).ok
    assert api.post(f"{base}/api/profiles", data={"name": "Dad", "pin": "2468"}).ok
    kids = api.post(f"{base}/api/profiles", data={"name": "Kids", "avatar": "green"}).json()
    restricted = api.put(
        f"{base}/api/profiles/{kids['id']}/allowance",
        data={"restricted": True, "folders": ["sub"], "tags": []},
    )
    assert restricted.ok


def test_who_is_watching_and_switching_profiles(contexts: list[BrowserContext], base: str) -> None:
    laptop, phone = (ctx.new_page() for ctx in contexts)
    laptop.goto(base + "/library")
    set_up_household(laptop, base)

    # A device that has not chosen is asked who is watching.
    phone.goto(base + "/")
    expect(phone.get_by_role("heading", level=1)).to_have_text("Who's watching?")
    expect(phone.locator("form.pick button")).to_have_text(["Dad", "Kids", "Mum"])

    # Kids, from the picker: only the folder ``sub``, and no way back to the guest.
    phone.get_by_role("button", name="Kids").click()
    expect(phone.locator(".profile-chip")).to_contain_text("Kids")
    phone.goto(base + "/library")
    expect(phone.locator("#library-grid li.card .title")).to_have_text(["Charlie"])
    phone.locator(".profile-chip").click()  # the header's chip: back to the picker
    expect(phone.get_by_role("heading", level=1)).to_have_text("Who's watching?")
    expect(phone.get_by_role("button", name="Continue as guest (this browser only)")).to_have_count(
        0
    )

    # Dad needs his PIN: a wrong one is refused beside his button, the right one lets him in.
    phone.get_by_label("PIN for Dad").fill("1111")
    phone.get_by_role("button", name="Dad").click()
    expect(phone.locator(".form-error")).to_have_text("PIN is not right.")
    expect(phone.locator(".profile-chip")).to_contain_text("Kids")
    phone.get_by_label("PIN for Dad").fill("2468")
    phone.get_by_role("button", name="Dad").click()
    expect(phone.locator("#flashes")).to_contain_text("Hi, Dad.")
    expect(phone.locator(".profile-chip")).to_contain_text("Dad")
    phone.goto(base + "/library")
    expect(phone.locator("#library-grid li.card")).to_have_count(3)
    # On the phone the header with the profile chip is still one row, nothing wider than it.
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    header = phone.locator("header.site").bounding_box()
    assert header is not None and header["height"] <= 60
    expect(
        phone.get_by_role("link", name="Dad")
    ).to_be_visible()  # named, though only the avatar shows

    # The laptop is still Mum, whatever the phone did.
    laptop.goto(base + "/")
    expect(laptop.locator(".profile-chip")).to_contain_text("Mum")
