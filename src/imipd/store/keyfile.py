"""The secret key that keeps passwords encrypted at rest, and the box that uses it.

imip-md5 login needs each user's password itself (not a hash), so the store
keeps passwords encrypted with AES-GCM under a key that lives in a separate
file, ``secret.key``, next to the database. Copying the database alone does
not reveal passwords.

Several imipd processes may start at once on a fresh data directory, so the
key file is created exclusively: a complete, fsynced temporary file is
hard-linked to the final name, which fails if another process got there first;
every process then reads the key back from the final name, so all of them use
the one key that won.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import secrets
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

log = logging.getLogger(__name__)

KEY_FILE_NAME = "secret.key"
KEY_SIZE = 32
"""Bytes of key: AES-256."""
_KEY_PREFIX = "imipd-key-v1:"
_NONCE_SIZE = 12
_TAG_SIZE = 16
_USER_AAD = b"imipd-user:"
_CHECK_AAD = b"imipd-key-check"
_CHECK_PLAIN = b"imipd"
_FILE_MODE = 0o600
_DIR_MODE = 0o700


class KeyFileError(Exception):
    """The key file cannot be read or is not a key file; the message names the path."""


class DecryptError(Exception):
    """A stored secret cannot be decrypted: the wrong key file, or damaged data."""


def key_path(data_dir: Path) -> Path:
    """Where the key file of a data directory lives."""
    return data_dir / KEY_FILE_NAME


def load_or_create_key(path: Path) -> bytes:
    """The 32-byte key in the file ``path``, created (mode 0600, and its directory, 0700,
    when missing) on first use.

    Safe when several processes call it at once: exactly one key is written and every
    caller returns it. Raises ``KeyFileError`` when the file exists but is not a valid
    key file, and ``OSError`` on I/O failures.
    """
    ensure_data_dir(path.parent)
    if not path.exists():
        _create_exclusively(path, _encode_key(secrets.token_bytes(KEY_SIZE)))
    return read_key(path)


def ensure_data_dir(data_dir: Path) -> None:
    """Create ``data_dir`` (mode 0700) if it does not exist; leave an existing one alone."""
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    try:
        data_dir.mkdir(mode=_DIR_MODE)
    except FileExistsError:
        if not data_dir.is_dir():
            raise
        return
    os.chmod(data_dir, _DIR_MODE)  # mkdir's mode is filtered by the umask


def read_key(path: Path) -> bytes:
    """Read and validate a key file. Raises ``KeyFileError`` naming ``path``."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {path}: {exc.strerror or exc}") from exc
    _warn_if_readable_by_others(path)
    return _decode_key(raw, path)


def _encode_key(key: bytes) -> bytes:
    return (_KEY_PREFIX + base64.b64encode(key).decode("ascii") + "\n").encode("ascii")


def _decode_key(raw: bytes, path: Path) -> bytes:
    bad = KeyFileError(
        f"key file {path} is corrupt: expected one line '{_KEY_PREFIX}<base64 of "
        f"{KEY_SIZE} bytes>'; restore it from a backup (passwords cannot be read without it)"
    )
    try:
        text = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        raise bad from None
    if not text.startswith(_KEY_PREFIX):
        raise bad
    try:
        key = base64.b64decode(text[len(_KEY_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise bad from None
    if len(key) != KEY_SIZE:
        raise bad
    return key


def _create_exclusively(path: Path, content: bytes) -> None:
    """Publish ``content`` at ``path`` unless a file is already there; never overwrite."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        _write_synced(tmp, content)
        try:
            os.link(tmp, path)
        except FileExistsError:
            log.debug("another process created %s first; using its key", path)
            return
        _sync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def _write_synced(path: Path, content: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
    try:
        os.fchmod(fd, _FILE_MODE)
        os.write(fd, content)
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _warn_if_readable_by_others(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("key file %s has mode %o; it should be 600 (chmod 600 %s)", path, mode, path)


class PasswordBox:
    """Encrypts passwords for storage, bound to the account they belong to.

    A sealed password is ``version byte | 12-byte random nonce | AES-GCM ciphertext``.
    The associated data is the user key (after a fixed prefix), so a ciphertext copied onto
    another account's row fails to decrypt instead of logging someone in.
    """

    VERSION = 1

    def __init__(self, key: bytes, source: Path | None = None) -> None:
        """``source`` (the key file) is named in error messages."""
        if len(key) != KEY_SIZE:
            raise ValueError(f"a password key is {KEY_SIZE} bytes, not {len(key)}")
        self._aead = AESGCM(key)
        self._source = source

    def encrypt(self, password: str, user_key: str) -> bytes:
        """Seal ``password`` for the account ``user_key``."""
        return self._seal(password.encode("utf-8"), _USER_AAD + user_key.encode("utf-8"))

    def decrypt(self, blob: bytes, user_key: str) -> str:
        """Open a sealed password of ``user_key``. Raises ``DecryptError``."""
        what = f"the stored password of {user_key!r}"
        return self._open(blob, _USER_AAD + user_key.encode("utf-8"), what).decode("utf-8")

    def make_check(self) -> bytes:
        """A sealed known value a database keeps to detect a wrong key file at startup."""
        return self._seal(_CHECK_PLAIN, _CHECK_AAD)

    def verify_check(self, blob: bytes, what: str) -> None:
        """Raise ``DecryptError`` (about ``what``) unless ``blob`` came from ``make_check``."""
        if self._open(blob, _CHECK_AAD, what) != _CHECK_PLAIN:
            raise DecryptError(self._mismatch(what))

    def _seal(self, plain: bytes, aad: bytes) -> bytes:
        nonce = secrets.token_bytes(_NONCE_SIZE)
        return bytes([self.VERSION]) + nonce + self._aead.encrypt(nonce, plain, aad)

    def _open(self, blob: bytes, aad: bytes, what: str) -> bytes:
        if len(blob) < 1 + _NONCE_SIZE + _TAG_SIZE or blob[0] != self.VERSION:
            raise DecryptError(f"{what} is not in a known format (damaged data?)")
        nonce, sealed = blob[1 : 1 + _NONCE_SIZE], blob[1 + _NONCE_SIZE :]
        try:
            return self._aead.decrypt(nonce, sealed, aad)
        except InvalidTag:
            raise DecryptError(self._mismatch(what)) from None

    def _mismatch(self, what: str) -> str:
        key = f"the key file {self._source}" if self._source else "this key"
        return (
            f"cannot decrypt {what}: {key} is not the key it was encrypted with "
            "(restore the original secret.key), or the data is damaged"
        )
