"""``imipd.client.handoff`` on real Unix sockets: what a running client answers for."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from imipd.client import ConnectionClosed, Delivery, NotPermitted
from imipd.client.handoff import hand_over, offer, socket_path

from .helpers import run


@pytest.fixture
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    return tmp_path / "imip"


def test_one_socket_per_server_and_user(runtime: Path) -> None:
    path = socket_path("Example.org", 11319, "Alice")
    assert path.parent == runtime and path.suffix == ".sock"
    assert path == socket_path("example.org", 11319, "alice")
    assert path != socket_path("example.org", 11320, "alice")
    assert path != socket_path("example.org", 11319, "bob")


def test_a_message_goes_through_the_offered_session(runtime: Path) -> None:
    sent: list[tuple[str, str]] = []

    async def send(to: str, text: str) -> Delivery:
        sent.append((to, text))
        if to == "carol":
            raise NotPermitted("contacts only", 821, "MESG")
        if to == "dave":
            raise ConnectionClosed("not connected")
        return Delivery.STORED

    async def main() -> None:
        path = socket_path("127.0.0.1", 11319, "alice")
        assert await hand_over(path, "bob", "nobody there", 5) is None
        offered = await offer(path, send)
        assert offered is not None
        assert (runtime.stat().st_mode & 0o777) == 0o700
        assert await hand_over(path, "bob", "Grüß dich!\n", 5) is Delivery.STORED
        with pytest.raises(NotPermitted) as caught:
            await hand_over(path, "carol", "hi", 5)
        assert (caught.value.status, caught.value.reason) == (821, "contacts only")
        assert await hand_over(path, "dave", "hi", 5) is None  # down: log in yourself
        await offered.close()
        assert not path.exists()
        assert await hand_over(path, "bob", "closed", 5) is None

    run(main())
    assert sent == [("bob", "Grüß dich!\n"), ("carol", "hi"), ("dave", "hi")]


def test_a_socket_left_behind_is_replaced_and_a_newer_offer_is_kept(runtime: Path) -> None:
    async def send(to: str, text: str) -> Delivery:
        return Delivery.DELIVERED

    async def main() -> None:
        path = socket_path("127.0.0.1", 11319, "alice")
        runtime.mkdir(mode=0o700)
        left = socket.socket(socket.AF_UNIX)
        left.bind(str(path))
        left.close()  # a chat that was killed: the file stays, nobody listens
        assert await hand_over(path, "bob", "hi", 5) is None
        first = await offer(path, send)
        second = await offer(path, send)  # a second chat of the same user takes the name
        assert first is not None and second is not None
        await first.close()
        assert await hand_over(path, "bob", "hi", 5) is Delivery.DELIVERED
        await second.close()

    run(main())


def test_nothing_is_offered_or_used_in_a_directory_others_may_enter(runtime: Path) -> None:
    async def send(to: str, text: str) -> Delivery:
        raise AssertionError("must not be reached")

    async def main() -> None:
        runtime.mkdir(mode=0o755)
        runtime.chmod(0o755)
        path = socket_path("127.0.0.1", 11319, "alice")
        assert await offer(path, send) is None
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(str(path))
        listener.listen()
        try:
            assert await hand_over(path, "bob", "hi", 5) is None
        finally:
            listener.close()

    run(main())
