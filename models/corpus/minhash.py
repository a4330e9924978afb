"""Exact and near-duplicate detection: MinHash over token shingles, with LSH banding.

Near-duplicates (a file copied between packages with a changed header, two versions of a library
that share most files) make a corpus look bigger than it is and leak between train and test. We
estimate the Jaccard similarity of the sets of 5-token shingles of two files with 128 MinHash
values and call files with estimated Jaccard >= 0.85 duplicates. LSH with 16 bands of 8 rows finds
the candidate pairs (a pair at Jaccard 0.85 shares a band with probability > 99%) and every
candidate is checked on the full signature, so the threshold, not the banding, decides.

Everything is deterministic: token hashes are CRC32 (Python's hash() is salted per process) and
the permutations come from a fixed seed.
"""
from __future__ import annotations

import hashlib
import re
import zlib

import numpy as np

NUM_PERM = 128
BANDS, ROWS = 16, 8
SHINGLE = 5
THRESHOLD = 0.85
TOKEN_RE = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*|\d+|\S")
_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)
_rng = np.random.default_rng(20240611)
# Multiply-add hash family over uint64 (wrapping): h_i(x) = a_i * x + b_i, a_i odd.
_A = (_rng.integers(1, 2**63, NUM_PERM, dtype=np.uint64) * np.uint64(2) + np.uint64(1))[:, None]
_B = _rng.integers(0, 2**63, NUM_PERM, dtype=np.uint64)[:, None]
assert BANDS * ROWS == NUM_PERM


def normalise(text: str) -> str:
    """Text as compared for exact duplicates: no trailing spaces, no leading/trailing blank lines."""
    return "\n".join(l.rstrip() for l in text.replace("\r\n", "\n").split("\n")).strip("\n")


def exact_key(text: str) -> str:
    return hashlib.sha256(normalise(text).encode("utf-8")).hexdigest()


_STRING_RE = re.compile(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|`(?:[^`\\]|\\.)*`')


def template_key(text: str) -> str:
    """Hash of the text with every string literal blanked: files that differ only in strings
    (highlight.js's per-language deprecation stubs, generated re-export shims) share it. Short
    files defeat MinHash (one changed name is a large share of their shingles); this catches them."""
    return hashlib.sha256(_STRING_RE.sub('""', normalise(text)).encode("utf-8")).hexdigest()


def shingles(text: str) -> np.ndarray:
    """Unique uint64 hashes of the file's SHINGLE-token windows."""
    toks = TOKEN_RE.findall(text)
    if not toks:
        return np.zeros(0, dtype=np.uint64)
    h = np.fromiter((zlib.crc32(t.encode("utf-8")) for t in toks), dtype=np.uint64, count=len(toks))
    k = min(SHINGLE, len(h))
    n = len(h) - k + 1
    acc = np.zeros(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(k):  # polynomial rolling combination of k token hashes, wrapping mod 2^64
            acc = acc * np.uint64(1_000_003) + h[j:j + n]
    return np.unique(acc)


def signature(text: str) -> np.ndarray | None:
    """NUM_PERM-long MinHash signature, or None for files with no tokens."""
    s = shingles(text)
    if len(s) == 0:
        return None
    sig = np.full(NUM_PERM, _MASK, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for i in range(0, len(s), 8192):
            block = s[None, i:i + 8192]
            np.minimum(sig, (block * _A + _B).min(axis=1), out=sig)
    return sig


class LSHIndex:
    """Kept signatures, bucketed by band; `near_duplicate_of` checks candidates exactly."""

    def __init__(self, threshold: float = THRESHOLD):
        self.threshold = threshold
        self.buckets: list[dict[bytes, list[int]]] = [{} for _ in range(BANDS)]
        self.sigs: list[np.ndarray] = []

    def near_duplicate_of(self, sig: np.ndarray) -> int | None:
        seen: set[int] = set()
        for b in range(BANDS):
            for idx in self.buckets[b].get(sig[b * ROWS:(b + 1) * ROWS].tobytes(), ()):
                if idx in seen:
                    continue
                seen.add(idx)
                if float(np.mean(self.sigs[idx] == sig)) >= self.threshold:
                    return idx
        return None

    def add(self, sig: np.ndarray) -> int:
        idx = len(self.sigs)
        self.sigs.append(sig)
        for b in range(BANDS):
            self.buckets[b].setdefault(sig[b * ROWS:(b + 1) * ROWS].tobytes(), []).append(idx)
        return idx
