"""The size limits of docs/protocol.md §3.2, one frozen value fed from the config."""

from __future__ import annotations

from dataclasses import dataclass

from ._words import ascii_upper

KIB = 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """Every limit the parser enforces. The defaults are those of docs/protocol.md §3.2."""

    type_line: int = 1 * KIB
    """Longest type line in bytes, line ending excluded; longer loses framing (850)."""
    header_count: int = 64
    """Most header lines in one block (850, connection kept)."""
    header_line: int = 4 * KIB
    """Longest header line in bytes, line ending excluded (850, connection kept)."""
    block_size: int = 64 * KIB
    """Largest value of the size line (850, framing lost)."""
    mesg_body: int = 16 * KIB
    """Largest ``MESG`` body (850, connection kept)."""
    stat_text: int = 256
    """Largest ``STAT`` body, the status text (850, connection kept)."""
    list_add_text: int = 1 * KIB
    """Largest ``LIST ADD`` body, the request text (850, connection kept)."""

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            if getattr(self, name) < 1:
                raise ValueError(f"limit {name} must be at least 1")

    def body_limit(self, verb: str, args: tuple[str, ...]) -> int | None:
        """The body limit for a block of this type, or None when only the block size applies."""
        if verb == "MESG":
            return self.mesg_body
        if verb == "STAT":
            return self.stat_text
        if verb == "LIST" and args and ascii_upper(args[0]) == "ADD":
            return self.list_add_text
        return None
