"""Which documents a full refresh has emitted, in 8 bytes a document (a hash of its name), so the pass that reads the
documents edited during the read leaves out those it emitted already, with memory that stays small."""

import hashlib
from array import array
from typing import List


def name_hash(name: str) -> int:
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little", signed=True)


class EmittedNames:
    """Two documents share a hash with odds of about n*m/2^64 (n emitted, m checked): 1 in 10^10 at a million each."""

    def __init__(self) -> None:
        self._hashes = array("q")

    def __len__(self) -> int:
        return len(self._hashes)

    def add(self, rows: List[dict]) -> None:
        self._hashes.extend(name_hash(row["name"]) for row in rows)

    def first_time(self, rows: List[dict]) -> List[dict]:
        """The rows not emitted before (remembered from now on). One pass over the hashes per page: this runs for
        the few pages of documents edited during a read, not for the read itself."""
        hashes = [name_hash(row["name"]) for row in rows]
        seen = set(hashes).intersection(self._hashes) if self._hashes else set()
        fresh, kept = [], set()
        for row, h in zip(rows, hashes):
            if h not in seen and h not in kept:
                fresh.append(row)
                kept.add(h)
        self._hashes.extend(kept)
        return fresh
