"""The key file (created once, exclusively, validated) and the password box."""

from __future__ import annotations

import base64
import os
import stat
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imipd.store import keyfile
from imipd.store.keyfile import (
    DecryptError,
    KeyFileError,
    PasswordBox,
    key_path,
    load_or_create_key,
)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_first_use_creates_directory_and_key_with_private_modes(tmp_path: Path) -> None:
    data_dir = tmp_path / "deep" / "data"
    old_umask = os.umask(0)  # the modes must not depend on the umask
    try:
        key = load_or_create_key(key_path(data_dir))
    finally:
        os.umask(old_umask)
    assert len(key) == 32
    assert mode(data_dir) == 0o700
    assert mode(key_path(data_dir)) == 0o600
    assert key_path(data_dir).read_text().startswith("imipd-key-v1:")


def test_existing_directory_mode_is_left_alone(tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o750)
    load_or_create_key(key_path(tmp_path))
    assert mode(tmp_path) == 0o750


def test_the_key_is_stable(tmp_path: Path) -> None:
    first = load_or_create_key(key_path(tmp_path))
    assert load_or_create_key(key_path(tmp_path)) == first
    assert load_or_create_key(key_path(tmp_path)) == first


def test_no_temporary_files_are_left(tmp_path: Path) -> None:
    load_or_create_key(key_path(tmp_path))
    assert [p.name for p in tmp_path.iterdir()] == ["secret.key"]


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"\xff\xfe garbage",
        b"not-a-key",
        b"imipd-key-v2:" + b"A" * 44,
        b"imipd-key-v1:***not base64***",
        b"imipd-key-v1:" + b"QUJD",  # valid base64, 3 bytes
    ],
)
def test_a_corrupt_key_file_is_a_clear_error_and_is_kept(tmp_path: Path, content: bytes) -> None:
    key_path(tmp_path).write_bytes(content)
    with pytest.raises(KeyFileError, match="corrupt") as caught:
        load_or_create_key(key_path(tmp_path))
    assert str(key_path(tmp_path)) in str(caught.value)
    assert key_path(tmp_path).read_bytes() == content  # never replaced


def test_an_unreadable_key_file_names_the_path(tmp_path: Path) -> None:
    key_path(tmp_path).mkdir()  # exists, but cannot be read as a file
    with pytest.raises(KeyFileError, match="cannot read") as caught:
        load_or_create_key(key_path(tmp_path))
    assert str(key_path(tmp_path)) in str(caught.value)


def test_losing_the_creation_race_returns_the_winners_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    winner = b"W" * 32
    real_link = os.link

    def other_process_wins(src: str | Path, dst: str | Path) -> None:
        # Another process publishes its key between our check and our link.
        Path(dst).write_text("imipd-key-v1:" + base64.b64encode(winner).decode() + "\n")
        real_link(src, dst)

    monkeypatch.setattr(os, "link", other_process_wins)
    assert load_or_create_key(key_path(tmp_path)) == winner
    assert [p.name for p in tmp_path.iterdir()] == ["secret.key"]


def test_threads_racing_on_a_fresh_directory_share_one_key(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh"
    barrier = threading.Barrier(8)
    keys: list[bytes] = []

    def worker() -> None:
        barrier.wait()
        keys.append(load_or_create_key(key_path(data_dir)))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(keys) == 8 and len(set(keys)) == 1
    assert [p.name for p in data_dir.iterdir()] == ["secret.key"]
    assert keyfile.read_key(key_path(data_dir)) == keys[0]


# -- PasswordBox ------------------------------------------------------------------


def test_box_round_trip_with_random_nonce_and_version_byte() -> None:
    box = PasswordBox(b"k" * 32)
    one, two = box.encrypt("hunter2", "alice"), box.encrypt("hunter2", "alice")
    assert one != two
    assert one[0] == two[0] == PasswordBox.VERSION
    assert b"hunter2" not in one
    assert box.decrypt(one, "alice") == box.decrypt(two, "alice") == "hunter2"


def test_a_ciphertext_cannot_move_to_another_user() -> None:
    box = PasswordBox(b"k" * 32)
    with pytest.raises(DecryptError):
        box.decrypt(box.encrypt("hunter2", "alice"), "mallory")


def test_the_wrong_key_is_a_clear_error_naming_the_key_file(tmp_path: Path) -> None:
    sealed = PasswordBox(b"a" * 32).encrypt("pw", "alice")
    other = PasswordBox(b"b" * 32, source=tmp_path / "secret.key")
    with pytest.raises(DecryptError, match="not the key it was encrypted with") as caught:
        other.decrypt(sealed, "alice")
    assert str(tmp_path / "secret.key") in str(caught.value)
    assert "'alice'" in str(caught.value)


@pytest.mark.parametrize("damage", ["flip", "version", "truncate"])
def test_damaged_ciphertexts_are_refused(damage: str) -> None:
    box = PasswordBox(b"k" * 32)
    sealed = bytearray(box.encrypt("pw", "alice"))
    if damage == "flip":
        sealed[-1] ^= 1
    elif damage == "version":
        sealed[0] = 99
    else:
        del sealed[20:]
    with pytest.raises(DecryptError):
        box.decrypt(bytes(sealed), "alice")


def test_key_check_detects_another_key() -> None:
    check = PasswordBox(b"a" * 32).make_check()
    PasswordBox(b"a" * 32).verify_check(check, "db")
    with pytest.raises(DecryptError, match="db"):
        PasswordBox(b"b" * 32).verify_check(check, "db")


def test_box_refuses_a_short_key() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        PasswordBox(b"short")


@given(password=st.text(), user_key=st.text())
def test_any_password_round_trips(password: str, user_key: str) -> None:
    box = PasswordBox(b"p" * 32)
    assert box.decrypt(box.encrypt(password, user_key), user_key) == password
