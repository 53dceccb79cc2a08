"""The builtin embedder: feature hashing, in pure Python, offline. Lexical, not semantic.

A text's features are its case-folded Unicode words (with a light plural stripping, and without a short list of
English function words) and the pairs of neighbouring kept words. A word is hashed with a stable hash (blake2b,
not Python's hash(), which is salted per process), a pair by combining its two words' hashes; a feature's hash
picks one of `dimensions` buckets and a sign, and adds its weight, 1 + log(count) (sub-linear term frequency).
The vector is L2-normalised. Two texts score high when they share words, whatever
they mean: "car" and "automobile" share nothing. It needs no model, no network and no GPU, and is fast enough to
embed thousands of chunks a second, which makes it the default for development and tests.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Sequence
from itertools import pairwise

LABEL = "builtin feature hashing (lexical, not semantic)"
WORD = re.compile(r"\w+")
# Words that carry little meaning of their own: left out, or every English text would look alike.
STOP_WORDS = frozenset(
    """a an and are as at be been but by can could did do does for from had has have he her his how i if in into is it
    its me my no not of on or our she so than that the their them then there these they this those to too us was we
    were what when which who why will with would you your""".split()  # noqa: SIM905 (one word a line would take 70 lines)
)
# Bounds the per-process memo of word -> hash: a long-running worker meets an open-ended vocabulary.
CACHE_LIMIT = 500_000
# Combines two word hashes into the hash of the pair (an odd 64-bit constant: the golden ratio's).
PAIR_MULTIPLIER = 0x9E3779B97F4A7C15
MASK = (1 << 64) - 1


def _stem(word: str) -> str:
    """A light plural stripping: chunks -> chunk, queries -> query; glass, status and short words stay."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


class _Memo(dict[str, int]):
    """word -> the stable 64-bit hash of its stem, or 0 for a stop word; computed on the first lookup, so that
    map(memo.__getitem__, words) stays in C for every word seen before."""

    def __missing__(self, word: str) -> int:
        if len(self) >= CACHE_LIMIT:
            self.clear()
        value = self[word] = 0 if word in STOP_WORDS else stable_hash(_stem(word))
        return value


def stable_hash(text: str) -> int:
    """64 bits of blake2b: the same in every process (Python's hash() of a str is salted per process)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little") or 1


class HashingEmbedder:
    """The builtin embedder (embedding_provider builtin). It records no LlmCall: it runs on this machine."""

    semantic = False
    label = LABEL
    # No model limit: a longer text only dilutes each word's weight. Chunks of a few hundred words search well.
    max_input_words = 300

    def __init__(self, dimensions: int = 384) -> None:
        self.dimensions = dimensions
        self.name = f"builtin-hashing-{dimensions}"
        self._hashes = _Memo()

    def embed_documents(self, texts: Sequence[str], *, purpose: str = "") -> list[list[float]]:
        return [self._embed(text) for text in texts]

    def embed_query(self, text: str, *, purpose: str = "") -> list[float]:
        return self._embed(text)

    def features(self, text: str) -> Counter[int]:
        """The text's features (64-bit hashes) and their counts: its kept words, and each pair of neighbouring kept
        words, hashed by combining the two words' hashes (no string is built for a pair)."""
        words = WORD.findall(text.casefold())
        hashes = [value for value in map(self._hashes.__getitem__, words) if value]
        if not hashes:  # nothing but stop words ("to be or not to be"): keep them
            hashes = [stable_hash(_stem(word)) for word in words]
        counts = Counter(hashes)
        counts.update([(first * PAIR_MULTIPLIER + second) & MASK for first, second in pairwise(hashes)])
        return counts

    def _embed(self, text: str) -> list[float]:
        dimensions = self.dimensions
        # A hash modulo twice the dimensions picks the bucket (modulo the dimensions) and the sign (which half).
        double = 2 * dimensions
        halves = [0.0] * double
        for feature, count in self.features(text).items():
            halves[feature % double] += 1.0 if count == 1 else 1.0 + math.log(count)  # sub-linear term frequency
        vector = [
            positive - negative for positive, negative in zip(halves[:dimensions], halves[dimensions:], strict=True)
        ]
        norm = math.sqrt(math.sumprod(vector, vector))
        if norm == 0.0:  # no word at all: the zero vector, which matches nothing
            return vector
        scale = 1.0 / norm
        return [value * scale for value in vector]
