"""The registration page in a real browser: from HELO's Registration URL to an IMIP login."""

from __future__ import annotations

from typing import Any

from .conftest import WebServerFactory
from .imip import ImipClient, registration_url

SCREENSHOTS = "/tmp/imipd-register"


def test_sign_up_from_helo_then_log_in_over_imip(web_server: WebServerFactory,
                                                  page: Any) -> None:
    server = web_server()
    url = registration_url(server.port)
    assert url == f"{server.base}/register"

    page.goto(url)
    assert page.title() == "Sign up – imipd"
    assert page.get_by_role("heading", level=1).inner_text() == "Sign up for imipd"
    # every field has a label and a hint it is described by
    for label, name in (("Nickname", "nick"), ("Password", "password"),
                        ("Password again", "again")):
        field = page.get_by_label(label, exact=True)
        assert field.get_attribute("name") == name
        assert field.get_attribute("aria-describedby") == f"{name}-hint"
    page.screenshot(path=f"{SCREENSHOTS}-form.png", full_page=True)

    page.get_by_label("Nickname").fill("Grace")
    page.get_by_label("Password", exact=True).fill("hopper-1906")
    page.get_by_label("Password again").fill("hopper-1906")
    page.get_by_role("button", name="Create my account").click()

    assert page.get_by_role("heading", level=1).inner_text() == "Welcome, Grace!"
    number = page.locator("#number").inner_text()
    assert number == "1000000"  # the first number of a fresh server
    assert page.locator("#host").inner_text() == "127.0.0.1"
    assert page.locator("#port").inner_text() == str(server.port)
    page.screenshot(path=f"{SCREENSHOTS}-welcome.png", full_page=True)

    imip = ImipClient(server.port)
    answer = imip.login(number, "hopper-1906")
    assert (answer.verb, answer.args) == ("LOGN", (number,)), answer
    imip.close()

    # the next person gets the next number
    page.goto(url)
    ada_form = page.locator("input[name=csrf_token]").input_value()
    sign_up(page, "Ada", "analytical")
    assert page.locator("#number").inner_text() == "1000001"
    assert page.url == f"{server.base}/register?welcome=1000001"  # Post/Redirect/Get
    # reloading the welcome page shows the same account, and creates none
    page.reload()
    assert page.get_by_role("heading", level=1).inner_text() == "Welcome, Ada!"
    assert page.locator("#number").inner_text() == "1000001"
    # back, and Ada's form sent again (as a page restored from the history is): the same
    # account, not "this form has expired", not a second account
    page.go_back()
    page.evaluate("token => { document.querySelector('input[name=csrf_token]').value = token; }",
                  ada_form)
    sign_up(page, "Ada", "analytical")
    assert page.get_by_role("heading", level=1).inner_text() == "Welcome, Ada!"
    assert page.locator("#number").inner_text() == "1000001"
    # a new form makes a new account
    page.goto(url)
    sign_up(page, "Alan", "turing-1912")
    assert page.locator("#number").inner_text() == "1000002"


def sign_up(page: Any, nick: str, password: str) -> None:
    page.get_by_label("Nickname").fill(nick)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Password again").fill(password)
    page.get_by_role("button", name="Create my account").click()


def test_mistakes_are_explained_next_to_the_fields(web_server: WebServerFactory,
                                                   page: Any) -> None:
    server = web_server()
    page.goto(f"{server.base}/register")
    page.get_by_label("Nickname").fill("Linus")
    page.get_by_label("Password", exact=True).fill("linus")
    page.get_by_label("Password again").fill("linux")
    page.get_by_role("button", name="Create my account").click()

    assert page.title() == "Please check the form – imipd"
    summary = page.get_by_role("alert")
    assert "The password needs at least 6 characters." in summary.inner_text()
    assert "The two passwords differ." in summary.inner_text()
    password = page.get_by_label("Password", exact=True)
    assert password.get_attribute("aria-invalid") == "true"
    assert password.get_attribute("aria-describedby") == "password-hint password-error"
    assert page.locator("#password-error").inner_text() == \
        "The password needs at least 6 characters."
    # the nickname is kept, passwords are never sent back
    assert page.get_by_label("Nickname").input_value() == "Linus"
    assert page.get_by_label("Nickname").get_attribute("aria-invalid") is None
    assert password.input_value() == ""
    page.screenshot(path=f"{SCREENSHOTS}-errors.png", full_page=True)

    # corrected, the same page signs up
    password.fill("penguins")
    page.get_by_label("Password again").fill("penguins")
    page.get_by_role("button", name="Create my account").click()
    assert page.locator("#number").inner_text() == "1000000"


def test_fits_a_narrow_screen(web_server: WebServerFactory, browser: Any) -> None:
    server = web_server()
    context = browser.new_context(viewport={"width": 320, "height": 640})
    try:
        page = context.new_page()
        page.goto(f"{server.base}/register")
        assert page.evaluate("document.documentElement.scrollWidth") <= 320
        box = page.get_by_role("button", name="Create my account").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 320
        page.screenshot(path=f"{SCREENSHOTS}-narrow.png", full_page=True)
    finally:
        context.close()


def test_registration_off(web_server: WebServerFactory, page: Any) -> None:
    server = web_server("--no-registration")
    url = registration_url(server.port)  # HELO still points at the page
    page.goto(url)
    assert page.get_by_role("heading", level=1).inner_text() == "Sign-up is closed"
    assert page.locator("form").count() == 0
    # a form posted anyway is refused
    client = server.client()
    reply = client.post_form("/register", {"nick": "x", "password": "secret1",
                                           "again": "secret1", "csrf_token": "1.x"})
    assert reply.status == 403
    assert "Sign-up is closed" in reply.text
