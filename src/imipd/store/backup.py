"""Online backups of the embedded store, and restoring them.

A backup is one tar file (mode 0600) holding ``manifest.json``, a consistent
snapshot of ``imipd.sqlite3`` taken with SQLite's backup API while the server
runs, and ``secret.key``, without which the passwords cannot be read. The
backup is therefore as secret as the data directory itself.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ._sqlite_schema import BUSY_TIMEOUT_MS, DB_FILE_NAME, SCHEMA_VERSION, user_version
from .keyfile import KEY_FILE_NAME, DecryptError, KeyFileError, PasswordBox, read_key

FORMAT = "imipd-backup-v1"
MANIFEST = "manifest.json"


class BackupError(Exception):
    """A backup cannot be made or restored; the message says why."""


@dataclass(frozen=True)
class BackupInfo:
    """What a backup holds."""

    schema_version: int
    users: int
    stored_messages: int
    created_at: float


def _counts(conn: sqlite3.Connection) -> tuple[int, int]:
    """Accounts, and messages waiting (from schema 3 on, a delivered message is kept a day
    as a row that names who took it)."""
    users = conn.execute("SELECT count(*) FROM users").fetchone()[0]
    waiting = "WHERE flight IS NULL" if user_version(conn) >= 3 else ""
    messages = conn.execute(f"SELECT count(*) FROM messages {waiting}").fetchone()[0]
    return int(users), int(messages)


def create_backup(db_file: Path, key_file: Path, dest: Path) -> BackupInfo:
    """Snapshot the database ``db_file`` and the key ``key_file`` into the new file ``dest``
    (refuses to overwrite it)."""
    if not db_file.is_file():
        raise BackupError(f"no database at {db_file}")
    key = read_key(key_file)
    if dest.exists():
        raise BackupError(f"{dest} exists already: choose a new file name")
    if not dest.parent.is_dir():
        raise BackupError(f"no directory {dest.parent} to write {dest.name} into "
                          "(backup does not create directories)")
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".imipd-backup-") as tmp:
        snapshot = Path(tmp) / DB_FILE_NAME
        source = sqlite3.connect(db_file, timeout=BUSY_TIMEOUT_MS / 1000)
        target = sqlite3.connect(snapshot)
        try:
            source.backup(target)  # one step: a consistent read snapshot
            target.execute("PRAGMA journal_mode=DELETE")
            info = BackupInfo(user_version(target), *_counts(target), time.time())
        finally:
            target.close()
            source.close()
        snapshot.chmod(0o600)
        manifest = json.dumps({"format": FORMAT, **info.__dict__}).encode()
        partial = dest.with_name(dest.name + ".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out, tarfile.open(fileobj=out, mode="w") as tar:
            _add_bytes(tar, MANIFEST, manifest)
            tar.add(snapshot, arcname=DB_FILE_NAME)
            _add_bytes(tar, KEY_FILE_NAME, key_file.read_bytes())
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, dest)
    del key
    return info


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    member = tarfile.TarInfo(name)
    member.size = len(data)
    member.mode = 0o600
    member.mtime = int(time.time())
    tar.addfile(member, io.BytesIO(data))


def read_backup(path: Path, into: Path) -> BackupInfo:
    """Unpack and verify a backup into the directory ``into``; returns its manifest."""
    try:
        with tarfile.open(path, mode="r") as tar:
            names = set(tar.getnames())
            if names != {MANIFEST, DB_FILE_NAME, KEY_FILE_NAME}:
                raise BackupError(f"{path} is not an imipd backup")
            for name in sorted(names):
                member = tar.getmember(name)
                stream = tar.extractfile(member) if member.isfile() else None
                if stream is None:
                    raise BackupError(f"{path}: {name} is not a regular file")
                fd = os.open(into / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(stream, out)
    except tarfile.TarError:
        raise BackupError(f"{path} is not an imipd backup (not a tar file)") from None
    except OSError as error:
        raise BackupError(f"cannot read {path}: {error.strerror or error}") from None
    try:
        return _check_unpacked(path, into)
    except (ValueError, AttributeError, sqlite3.Error, KeyFileError, DecryptError) as error:
        raise BackupError(f"{path} is not a usable imipd backup: {error}") from None


def _check_unpacked(path: Path, into: Path) -> BackupInfo:
    manifest = json.loads((into / MANIFEST).read_text())
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{path}: unknown backup format {manifest.get('format')!r}")
    conn = sqlite3.connect(into / DB_FILE_NAME)
    try:
        if conn.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            raise BackupError(f"{path}: the database in the backup is damaged")
        version = user_version(conn)
        if version > SCHEMA_VERSION:
            raise BackupError(f"{path} is from a newer imipd (schema {version})")
        box = PasswordBox(read_key(into / KEY_FILE_NAME))
        row = conn.execute("SELECT key, password FROM users LIMIT 1").fetchone()
        if row is not None:
            box.decrypt(row[1], row[0])  # the key in the backup opens its passwords
        users, messages = _counts(conn)
    finally:
        conn.close()
    return BackupInfo(version, users, messages, float(manifest.get("created_at", 0)))


def restore_backup(path: Path, db_file: Path, key_file: Path, *, force: bool) -> BackupInfo:
    """Put a backup in place as the database ``db_file`` and the key file ``key_file``;
    existing data needs ``force``."""
    key_dir = key_file.parent
    if (db_file.exists() or key_file.exists()) and not force:
        where = key_dir if db_file.parent == key_dir else f"{db_file} or {key_file}"
        raise BackupError(f"{where} holds data already: use --force to replace it")
    created: list[Path] = []  # removed again when the backup is refused: nothing is left
    try:
        for directory in (db_file.parent, key_dir):
            missing = [d for d in (directory, *directory.parents) if not d.exists()]
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            created.extend(reversed(missing))
    except OSError as error:
        _remove_dirs(created)
        raise BackupError(f"cannot create {directory}: {error.strerror or error}") from None
    try:
        with tempfile.TemporaryDirectory(dir=db_file.parent, prefix=".restore-") as tmp:
            staged = Path(tmp)
            info = read_backup(path, staged)
            for suffix in ("-wal", "-shm", "-journal"):
                with contextlib.suppress(FileNotFoundError):
                    db_file.with_name(db_file.name + suffix).unlink()
            shutil.move(staged / KEY_FILE_NAME, key_file)  # renamed when it can be
            os.replace(staged / DB_FILE_NAME, db_file)
    except BaseException:
        _remove_dirs(created)
        raise
    conn = sqlite3.connect(db_file)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
    finally:
        conn.close()
    return info


def _remove_dirs(created: list[Path]) -> None:
    """Remove the directories a refused restore created, deepest first, if still empty."""
    for directory in reversed(created):
        with contextlib.suppress(OSError):
            directory.rmdir()
