"""``imip decode``: one JSON object per block of a raw IMIP byte stream."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

from ..protocol import Block, Limits, Parser

CHUNK = 64 * 1024


def block_record(block: Block, offset: int, size: int) -> dict[str, Any]:
    """The JSON-ready view of one block, keys in the documented order."""
    record: dict[str, Any] = {
        "offset": offset,
        "type": block.verb,
        "args": list(block.args),
        "size": size,
        "headers": [[name, value] for name, value in block.headers],
        "empty_line": block.empty_line,
    }
    try:
        record["body"] = block.body.decode("utf-8")
    except UnicodeDecodeError:
        record["body_base64"] = base64.b64encode(block.body).decode("ascii")
    return record


def read_chunks(stream: BinaryIO) -> Iterator[bytes]:
    """The stream's bytes as they arrive (a pipe is decoded while it is written)."""
    read = getattr(stream, "read1", stream.read)
    while chunk := read(CHUNK):
        yield chunk


def decode_stream(chunks: Iterable[bytes], limits: Limits | None = None) -> Iterator[str]:
    """One JSON line per block; raises ``ProtocolError`` at the first broken block."""
    parser = Parser(limits)
    for chunk in _and_end(chunks):
        parser.feed(chunk)
        for block in parser:  # after the end, a block left unfinished raises here
            record = block_record(block, parser.last_offset, parser.last_size)
            yield json.dumps(record, ensure_ascii=False)


def _and_end(chunks: Iterable[bytes]) -> Iterator[bytes]:
    yield from chunks
    yield b""
