"""A small HTTP client for the web tests: cookies, forms, JSON, any header.

``http.client`` rather than a library, so a test can send exactly what it
means to (a forged token, a missing cookie, an X-Forwarded-For).
"""

from __future__ import annotations

import http.client
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

TOKEN = re.compile(r'name="csrf_token" value="([^"]*)"')
NUMBER = re.compile(r'<p class="number" id="number">(\d+)</p>')


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    text: str

    def json(self) -> Any:
        return json.loads(self.text)

    @property
    def csrf_token(self) -> str:
        match = TOKEN.search(self.text)
        assert match, self.text
        return match.group(1)

    @property
    def number(self) -> str:
        match = NUMBER.search(self.text)
        assert match, self.text
        return match.group(1)


class WebClient:
    """One visitor (one cookie jar) of the web side at ``base`` (``http://host:port``)."""

    def __init__(self, base: str) -> None:
        parts = urlsplit(base)
        assert parts.hostname is not None and parts.port is not None
        self.host, self.port = parts.hostname, parts.port
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> Reply:
        headers = dict(headers or {})
        if self.cookies and "Cookie" not in headers:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            text = response.read().decode("utf-8")
        finally:
            conn.close()
        for cookie in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = cookie.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        return Reply(response.status, response.headers, text)

    def get(self, path: str, headers: dict[str, str] | None = None) -> Reply:
        return self.request("GET", path, headers=headers)

    def post_form(self, path: str, fields: dict[str, str],
                  headers: dict[str, str] | None = None) -> Reply:
        return self.request("POST", path, urlencode(fields).encode(), {
            "Content-Type": "application/x-www-form-urlencoded", **(headers or {})})

    def follow(self, reply: Reply, headers: dict[str, str] | None = None) -> Reply:
        """GET a ``303``'s ``Location`` (relative to ``/register``, as a browser resolves it)."""
        if reply.status != 303:
            return reply
        return self.get(urljoin("/register", reply.headers["Location"]), headers)

    def sign_up(self, nick: str, password: str, again: str | None = None,
                headers: dict[str, str] | None = None) -> Reply:
        """Load the form (for the cookie and token), submit it, follow the redirect."""
        form = self.get("/register", headers)
        assert form.status == 200, form.text
        return self.follow(self.post_form("/register", {
            "nick": nick, "password": password,
            "again": password if again is None else again, "csrf_token": form.csrf_token,
        }, headers), headers)

    def api(self, method: str, path: str, token: str | None, data: Any = None) -> Reply:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        body = None
        if data is not None:
            body = json.dumps(data).encode()
            headers["Content-Type"] = "application/json"
        return self.request(method, path, body, headers)
