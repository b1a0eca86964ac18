"""The pieces of a file fetched in segments: which bytes each covers, which are written, who has them.

A piece is bytes [start, end) of the file; [start, written) are on disk. A worker takes an idle
piece, or splits the busy piece with the most bytes not yet requested and takes the tail half of
those (no piece below `piece_bytes` is split off); the worker that had it stops at its new end.
Every change happens under one lock, so two workers never write the same byte. Pure
bookkeeping: no I/O.

`record()` and `Pieces.load` give and read the sidecar's "segments" (pxeimport.fetching.segments):
`[[start, end, written], ...]`, in order, covering [0, total).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

# Split points are rounded up to this (a page multiple), so pieces stay aligned for the page cache.
ALIGN = 1 << 16


@dataclass
class Piece:
    """Bytes [start, end) of the file: [start, written) are on disk, up to `claimed` being written,
    up to `asked` requested. Only bytes past `asked` are split off, so a request is never cut short,
    except one that runs to the end of the file (`open`: the first answer, a 200), cut anywhere."""

    start: int
    end: int  # lowered when another worker takes the tail
    written: int
    claimed: int
    asked: int
    busy: bool = False
    open: bool = False


class Pieces:
    """The file's pieces, changed only under `changed` (a Condition, notified on every give-back).

    A worker asks for at most half of what its piece still misses, and at most `request_bytes`,
    at a time, so the other half stays free to split off and no request runs long.
    """

    def __init__(self, total: int, pieces: list[Piece], piece_bytes: int, request_bytes: int = 0) -> None:
        self.total = total
        self.pieces = pieces
        self.piece_bytes = max(piece_bytes, ALIGN)
        self.request_bytes = max(request_bytes, self.piece_bytes)
        self.changed = threading.Condition()

    def take(self, *, open_ended: bool = False) -> Piece | None:
        """An idle piece with bytes missing (`open_ended`: read from an answer that runs to the end of
        the file), else the tail half of the unrequested bytes of the busy piece with the most of them."""
        with self.changed:
            idle = [p for p in self.pieces if not p.busy and p.written < p.end]
            if idle:
                piece = idle[0]
                piece.busy, piece.open = True, open_ended
                piece.claimed = piece.asked = piece.written
                return piece
            victim = max((p for p in self.pieces if p.busy), key=lambda p: p.end - _free(p), default=None)
            if victim is None or victim.end - _free(victim) < 2 * self.piece_bytes:
                return None
            middle = _free(victim) + (victim.end - _free(victim)) // 2
            middle = min(-(-middle // ALIGN) * ALIGN, victim.end - self.piece_bytes)
            tail = Piece(middle, victim.end, middle, middle, middle, busy=True)
            victim.end = middle
            self.pieces.insert(self.pieces.index(victim) + 1, tail)
            return tail

    def ask(self, piece: Piece) -> tuple[int, int]:
        """The first and last byte of the next request for `piece` (RFC 9110 14.1.2's inclusive pair)."""
        with self.changed:
            size = min(self.request_bytes, max(self.piece_bytes, (piece.end - piece.claimed) // 2))
            piece.asked = min(piece.end, piece.claimed + size)
            return piece.claimed, piece.asked - 1

    def splittable(self) -> bool:
        with self.changed:
            return any(
                (not p.busy and p.written < p.end) or (p.busy and p.end - _free(p) >= 2 * self.piece_bytes)
                for p in self.pieces
            )

    def claim(self, piece: Piece, size: int) -> tuple[int, int]:
        """(offset, bytes) of the next `size` bytes read for `piece`, cut at its end or, for a closed
        request, at what was asked (0 bytes: done)."""
        with self.changed:
            stop = piece.end if piece.open else min(piece.end, piece.asked)
            size = max(0, min(size, stop - piece.claimed))
            offset = piece.claimed
            piece.claimed += size
            return offset, size

    def wrote(self, piece: Piece) -> None:
        with self.changed:
            piece.written = piece.claimed

    def give_back(self, piece: Piece) -> None:
        with self.changed:
            piece.busy = piece.open = False
            piece.claimed = piece.asked = piece.written
            self.changed.notify_all()

    @property
    def written(self) -> int:
        with self.changed:
            return sum(p.written - p.start for p in self.pieces)

    def complete(self) -> bool:
        with self.changed:
            return all(p.written >= p.end for p in self.pieces)

    def record(self) -> list[list[int]]:
        with self.changed:
            return [[p.start, p.end, p.written] for p in self.pieces]

    @classmethod
    def load(cls, recorded: Any, total: int, piece_bytes: int, request_bytes: int = 0) -> Pieces | None:
        """Pieces from a sidecar's "segments"; None unless they cover [0, total) in order."""
        if not isinstance(recorded, list) or not recorded:
            return None
        pieces, at = [], 0
        for entry in recorded:
            ok = isinstance(entry, list) and len(entry) == 3 and all(type(n) is int for n in entry)
            if not ok or entry[0] != at or not entry[0] <= entry[2] <= entry[1]:
                return None
            pieces.append(Piece(entry[0], entry[1], entry[2], entry[2], entry[2]))
            at = entry[1]
        return cls(total, pieces, piece_bytes, request_bytes) if at == total else None


def _free(piece: Piece) -> int:
    """Where the bytes of a busy piece that no request covers begin."""
    return piece.claimed if piece.open else max(piece.claimed, piece.asked)
