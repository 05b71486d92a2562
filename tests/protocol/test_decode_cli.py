"""``imip decode``: the real installed command on captured-like streams."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from imipd.cli.decode import block_record, decode_stream
from imipd.protocol import Block, Limits, ProtocolError, Status

from .examples import BINARY_MESG, CLIENT_HELO, LOGN, SERVER_ACK, UTF8_MESG

IMIP = Path(sys.executable).with_name("imip")

ACK_LF = b"ack 600\n19\nid: 3\nreference: 3\n"
CAPTURE = (
    CLIENT_HELO.wire  # 0, 39 bytes
    + b"\r\n"  # an empty line between blocks
    + LOGN.wire  # 41, 102 bytes
    + UTF8_MESG.wire  # 143, 40 bytes
    + BINARY_MESG.wire  # 183, 26 bytes
    + ACK_LF  # 209, 30 bytes
)
END = 239

EXPECTED_LINES = [
    '{"offset": 0, "type": "HELO", "args": [], "size": 29, '
    '"headers": [["ID", "1"], ["Protocol", "IMIP/1.0"]], "empty_line": true, "body": ""}',
    '{"offset": 41, "type": "LOGN", "args": ["1000042"], "size": 84, '
    '"headers": [["ID", "2"], ["Client", "imip-cli 0.1"], ["Auth-Type", "imip-md5"]], '
    '"empty_line": true, "body": "acf2b771b12e380f6001573415913b2e"}',
    '{"offset": 143, "type": "MESG", "args": [], "size": 30, '
    '"headers": [["ID", "4"], ["To", "bob"]], "empty_line": true, "body": "Grüß dich!"}',
    '{"offset": 183, "type": "MESG", "args": [], "size": 16, '
    '"headers": [["ID", "9"]], "empty_line": true, "body_base64": "//4ADQoKDQ=="}',
    '{"offset": 209, "type": "ACK", "args": ["600"], "size": 19, '
    '"headers": [["id", "3"], ["reference", "3"]], "empty_line": false, "body": ""}',
]
KEYS = ["offset", "type", "args", "size", "headers", "empty_line"]


def run_imip(
    *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [str(IMIP), *args],
        input=stdin if stdin is not None else b"",
        capture_output=True,
        timeout=30,
        env={**os.environ, **(env or {})},
        check=False,
    )


def stdout_lines(result: subprocess.CompletedProcess[bytes]) -> list[str]:
    text = result.stdout.decode("utf-8")
    assert text == "" or text.endswith("\n")
    return text.splitlines()


def test_capture_layout() -> None:
    assert len(CAPTURE) == END
    assert CAPTURE[41:].startswith(b"LOGN") and CAPTURE[209:].startswith(b"ack")


def test_decode_file(tmp_path: Path) -> None:
    capture = tmp_path / "capture.bin"
    capture.write_bytes(CAPTURE)
    result = run_imip("decode", str(capture))
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    assert stdout_lines(result) == EXPECTED_LINES


@pytest.mark.parametrize("args", [("decode", "-"), ("decode",)])
def test_decode_stdin(args: tuple[str, ...]) -> None:
    result = run_imip(*args, stdin=CAPTURE)
    assert result.returncode == 0, result.stderr
    assert stdout_lines(result) == EXPECTED_LINES


def test_decode_records_shape() -> None:
    result = run_imip("decode", "-", stdin=CAPTURE)
    records = [json.loads(line) for line in stdout_lines(result)]
    for record in records:
        assert list(record)[:6] == KEYS
        assert list(record)[6:] in (["body"], ["body_base64"])
        assert isinstance(record["headers"], list)
        assert all(isinstance(pair, list) and len(pair) == 2 for pair in record["headers"])
    assert records[2]["body"].encode("utf-8") == "Grüß dich!".encode()
    assert len(records[2]["body"].encode("utf-8")) == 12


@pytest.mark.parametrize("env", [{"LC_ALL": "C"}, {"PYTHONIOENCODING": "latin-1"}])
def test_decode_output_is_utf8_whatever_the_locale(env: dict[str, str]) -> None:
    mesg = Block("MESG", (), (("From", "张伟"),), "你好, Grüß dich!".encode(), True)
    result = run_imip("decode", "-", stdin=mesg.to_bytes(), env=env)
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout.decode("utf-8"))
    assert record["body"] == "你好, Grüß dich!"
    assert record["headers"] == [["From", "张伟"]]


def test_decode_empty_input() -> None:
    result = run_imip("decode", "-", stdin=b"")
    assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")
    result = run_imip("decode", "-", stdin=b"\r\n\r\n")
    assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")


@pytest.mark.parametrize(
    ("tail", "offset", "status"),
    [
        (b"MESG\r\n12x\r\n", END, 800),  # size line not digits: framing lost
        (b"\r\nMESG\r\n" + b"9" * 5000, END + 2, 850),  # huge size, the line never ends
        (LOGN.wire[:50], END, 800),  # the stream ends inside a block
        (b"X" * 2000, END, 850),  # type line too long
        (b"STAT\r\n300\r\n\r\n" + b"s" * 298, END, 850),  # a body too large stops decoding too
        (b"PING\r\n10\r\nNo colon\r\n", END, 800),
        (b"PING\r\n14\r\nID: 1\r\nid: 2\r\n", END, 803),
    ],
)
def test_decode_broken_stream(tmp_path: Path, tail: bytes, offset: int, status: int) -> None:
    capture = tmp_path / "broken.bin"
    capture.write_bytes(CAPTURE + tail + SERVER_ACK.wire)
    for result in (
        run_imip("decode", str(capture)),
        run_imip("decode", stdin=capture.read_bytes()),
    ):
        assert result.returncode == 1
        assert stdout_lines(result) == EXPECTED_LINES  # every block before the broken one
        stderr = result.stderr.decode("utf-8")
        assert stderr.startswith(f"offset {offset}: ")
        assert stderr.rstrip("\n").endswith(f"({status})")
        assert stderr.count("\n") == 1  # one line, no traceback


def test_decode_broken_first_block() -> None:
    result = run_imip("decode", "-", stdin=b"HELO\r\n-1\r\n")
    assert result.returncode == 1
    assert result.stdout == b""
    assert result.stderr.decode().startswith("offset 0: ")


def test_decode_missing_file(tmp_path: Path) -> None:
    result = run_imip("decode", str(tmp_path / "nope.bin"))
    assert result.returncode != 0
    assert result.stdout == b""


# -- the same, in process, for every way the bytes may arrive ----------------------


def records_of(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines]


@pytest.mark.parametrize("piece", [1, 2, 7, 64, len(CAPTURE)])
def test_decode_stream_any_chunking(piece: int) -> None:
    chunks = [CAPTURE[i : i + piece] for i in range(0, len(CAPTURE), piece)]
    assert list(decode_stream(iter(chunks))) == EXPECTED_LINES


def test_decode_stream_raises_at_the_broken_block() -> None:
    lines: list[str] = []
    with pytest.raises(ProtocolError) as info:
        for line in decode_stream([CAPTURE, b"MESG\r\n", b"abc"]):
            lines.append(line)
    assert lines == EXPECTED_LINES
    assert (info.value.offset, info.value.status, info.value.fatal) == (END, Status.MALFORMED, True)


def test_decode_stream_limits() -> None:
    with pytest.raises(ProtocolError) as info:
        list(decode_stream([CLIENT_HELO.wire], Limits(block_size=20)))
    assert (info.value.status, info.value.offset) == (Status.TOO_LARGE, 0)


def test_block_record() -> None:
    record = block_record(SERVER_ACK.block, 5, 21)
    assert record == {
        "offset": 5,
        "type": "ACK",
        "args": ["600"],
        "size": 21,
        "headers": [["ID", "3"], ["Reference", "3"]],
        "empty_line": False,
        "body": "",
    }
    binary = block_record(Block("MESG", (), (), b"\x80"), 0, 3)
    assert "body" not in binary and binary["body_base64"] == "gA=="
