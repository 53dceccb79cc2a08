"""Cutting an ExtractedText into chunks sized for the embedder. Pure functions.

Sizes. all-MiniLM-L6-v2 reads at most 256 wordpieces and truncates the rest; English prose runs at about 1.3
wordpieces a word. With the defaults (target_words=170, overlap=0.15) a chunk holds at most 195 words (1.15 x the
target, about 255 wordpieces), overlap included, and at least 59 (0.35 x the target) unless its whole section is
shorter; on ordinary prose chunks average 135-150 words. A section of at most 195 words is one chunk. Words longer
than 64 characters are cut into 64-character pieces, so no single "word" makes a chunk huge. Chunks never cross a
section (a heading, or a PDF page).

Where chunks are cut: content-defined, so that an edit moves only the cuts near it. A section is cut into pieces of
at most 169 words (the maximum less the overlap), then each chunk is its piece plus the overlap before it.
  * A stretch longer than twice that is cut at paragraph boundaries (a blank line). Whether a boundary is a cut
    depends only on the text around it: a hash of the three words before it against the number of words since
    the previous paragraph boundary (a long stretch without a cut is likelier to end at the next one), provided
    the cut leaves at least the minimum on both sides. Nothing is counted from the start of the section, so after
    an edit the cuts fall back into step at the next cut point past it.
  * A stretch still too long is cut the same way at sentence ends, then at line breaks, then between words.
  * A stretch of up to twice the maximum is cut once, where both sides fit: at the best-ranked boundary there
    (paragraph, sentence end, line break, space), the one with the lowest hash among equals.
  * Text with no usable boundary at all (one giant word) is cut greedily at the best boundary near the target.
So a re-ingested document with one edited paragraph re-embeds the chunks that contain the edit and, now and then,
one beside them, not the rest of its section. Tiny trailing pieces cannot arise: every cut leaves the minimum on
both sides.

Overlap. Each chunk after the first of its section starts `overlap` x target words (26) before its piece, moved to
a sentence start when one is within half that distance (and never past the maximum size); it depends only on the
text before the piece.

Spans. A chunk's text is an exact slice of the extracted text, `extracted.text[char_start:char_end] == text`, from
the first character of its first word to the last character of its last word; whitespace inside is kept as it is
(the embedder does not care, and the slice shows the reader the original).

Token estimate. The count of `\\w+` runs and punctuation characters, plus one per 8 characters past the 8th of a
long word: a cheap, slightly generous stand-in for the BERT wordpiece count (exact on plain short-word prose).

Hashes. content_hash is the sha256 of what is embedded (title, heading path, text), not of the position, so an
unchanged chunk keeps its hash when chunks before it are added or removed; a changed title or heading changes the
hash of every chunk it prefixes.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
import zlib
from dataclasses import dataclass

from apps.knowbase.extraction import ExtractedText, Section


@dataclass(frozen=True)
class ChunkDraft:
    position: int
    text: str
    heading_path: tuple[str, ...]
    page: int | None
    char_start: int
    char_end: int
    token_count: int
    content_hash: str


MAX_FACTOR = 1.15  # a chunk holds at most target x this many words, overlap included
MIN_FACTOR = 0.35  # no cut leaves fewer than target x this many words on either side
MEAN_FACTOR = 0.85  # past the minimum, a cut point comes after about target x this less the minimum more words
MAX_WORD_CHARS = 64

_WORD = re.compile(rf"\S{{1,{MAX_WORD_CHARS}}}")
# A word that ends a sentence: . ! ? or an ellipsis, maybe followed by closing quotes or brackets.
_SENTENCE_END = re.compile(r"[.!?\u2026][\"'\u201d\u2019)\]]*(?=\s|$)")
_TOKEN = re.compile(r"\w+|[^\w\s]")
_LONG_WORD = re.compile(r"\w{9,}")

# Ranks of the boundary before a word.
_MID_WORD, _SPACE, _LINE, _SENTENCE, _PARAGRAPH = range(5)


def embedding_input(title: str, heading_path: tuple[str, ...], text: str) -> str:
    """What the embedder reads for a chunk: "Title\\nHeading > Sub\\n\\ntext"; a missing title or path drops its
    line."""
    header = [line for line in (" ".join(title.split()), " > ".join(heading_path)) if line]
    return "\n".join(header) + "\n\n" + text if header else text


def content_hash(title: str, heading_path: tuple[str, ...], text: str) -> str:
    return hashlib.sha256(embedding_input(title, heading_path, text).encode("utf-8")).hexdigest()


def estimate_tokens(text: str) -> int:
    """A slightly generous estimate of the BERT wordpieces of `text` (see the module's docstring)."""
    return len(_TOKEN.findall(text)) + sum((len(word) - 1) // 8 for word in _LONG_WORD.findall(text))


def chunk_document(
    extracted: ExtractedText, *, title: str, target_words: int = 170, overlap: float = 0.15
) -> list[ChunkDraft]:
    """The chunks of `extracted`, positions 0..n-1, section by section in document order."""
    if target_words < 8:
        raise ValueError("target_words must be at least 8")
    if not 0 <= overlap < 0.5:
        raise ValueError("overlap must be at least 0 and below 0.5")
    chunks: list[ChunkDraft] = []
    for section in extracted.sections:
        for start, end in _section_spans(section, target_words, overlap):
            text = extracted.text[start:end]
            chunks.append(
                ChunkDraft(
                    position=len(chunks),
                    text=text,
                    heading_path=section.heading_path,
                    page=section.page,
                    char_start=start,
                    char_end=end,
                    token_count=estimate_tokens(text),
                    content_hash=content_hash(title, section.heading_path, text),
                )
            )
    return chunks


@dataclass(frozen=True)
class _Sizes:
    piece_max: int  # the most words of a piece: the chunk's maximum less the overlap
    piece_min: int  # no cut leaves fewer words than this on either side
    chunk_max: int  # the most words of a chunk, overlap included
    mean_gap: float  # past piece_min, a cut comes on average after this many more words
    target: int
    overlap: int  # words of the previous text a chunk starts with


def _section_spans(section: Section, target: int, overlap: float) -> list[tuple[int, int]]:
    """(char_start, char_end) of each chunk of `section`, in ExtractedText coordinates."""
    text = section.text
    words = [match.span() for match in _WORD.finditer(text)]
    count = len(words)
    if not count:
        return []
    sentence_ends = {match.end() for match in _SENTENCE_END.finditer(text)}
    # rank[i]: the boundary before word i (rank[0] unused).
    rank = [_PARAGRAPH]
    for (_, previous_end), (start, _) in itertools.pairwise(words):
        if previous_end == start:
            rank.append(_MID_WORD)
            continue
        newlines = text.count("\n", previous_end, start)
        if newlines >= 2:
            rank.append(_PARAGRAPH)
        elif previous_end in sentence_ends:
            rank.append(_SENTENCE)
        else:
            rank.append(_LINE if newlines else _SPACE)

    overlap_words = round(target * overlap)
    chunk_max = int(target * MAX_FACTOR)
    piece_max = max(1, chunk_max - overlap_words)
    piece_min = max(1, min(int(target * MIN_FACTOR), piece_max // 2))
    sizes = _Sizes(
        piece_max=piece_max,
        piece_min=piece_min,
        chunk_max=chunk_max,
        mean_gap=max(1.0, target * MEAN_FACTOR - piece_min),
        target=target,
        overlap=overlap_words,
    )
    if count <= chunk_max:
        return [(section.start + words[0][0], section.start + words[-1][1])]
    pieces = _pieces(text, words, rank, 0, count, _PARAGRAPH, sizes)
    spans: list[tuple[int, int]] = []
    for index, (first, end) in enumerate(pieces):
        if index:
            earliest = max(pieces[index - 1][0] + 1, end - sizes.chunk_max)
            first = _overlap_start(rank, first, earliest, sizes.overlap)
        spans.append((section.start + words[first][0], section.start + words[end - 1][1]))
    return spans


def _boundary_hash(text: str, words: list[tuple[int, int]], i: int) -> float:
    """A number in [0, 1) fixed by the three words before boundary i and nothing else."""
    return zlib.crc32(text[words[max(0, i - 3)][0] : words[i - 1][1]].encode()) / 0x1_0000_0000


def _pieces(
    text: str, words: list[tuple[int, int]], rank: list[int], low: int, high: int, level: int, sizes: _Sizes
) -> list[tuple[int, int]]:
    """Words [low, high) cut into pieces of at most sizes.piece_max words, as (first, end) word ranges."""
    if high - low <= sizes.piece_max:
        return [(low, high)]
    if high - low <= 2 * sizes.piece_max:
        return _split_in_two(text, words, rank, low, high, sizes)
    if level < _SPACE:
        return _fallback_pieces(rank, low, high, sizes)
    cuts = [low]
    previous_candidate = low
    for i in range(low + 1, high - sizes.piece_min + 1):
        if rank[i] < level:
            continue
        gap = i - previous_candidate
        previous_candidate = i
        if i - cuts[-1] >= sizes.piece_min and _boundary_hash(text, words, i) < 1 - math.exp(-gap / sizes.mean_gap):
            cuts.append(i)
    cuts.append(high)
    pieces: list[tuple[int, int]] = []
    for first, end in itertools.pairwise(cuts):
        pieces.extend(_pieces(text, words, rank, first, end, level - 1, sizes))
    return pieces


def _split_in_two(
    text: str, words: list[tuple[int, int]], rank: list[int], low: int, high: int, sizes: _Sizes
) -> list[tuple[int, int]]:
    """A stretch of at most twice the maximum, cut once where both sides fit: at the best-ranked boundary there,
    the one with the lowest hash among equals (content-defined, like the other cuts)."""
    window_low = max(high - sizes.piece_max, low + sizes.piece_min)
    window_high = min(low + sizes.piece_max, high - sizes.piece_min)
    if window_low > window_high:
        return _fallback_pieces(rank, low, high, sizes)
    top = max(rank[window_low : window_high + 1])
    cut = min(
        (i for i in range(window_low, window_high + 1) if rank[i] == top),
        key=lambda i: _boundary_hash(text, words, i),
    )
    return [(low, cut), (cut, high)]


def _fallback_pieces(rank: list[int], low: int, high: int, sizes: _Sizes) -> list[tuple[int, int]]:
    """Cut greedily from `low`: each piece ends at the best-ranked boundary in [piece_min, piece_max] words, the
    nearest to the target among equals. Reached only for text with too few boundaries of any kind."""
    pieces: list[tuple[int, int]] = []
    first = low
    while high - first > sizes.piece_max:
        window_low = first + sizes.piece_min
        window_high = max(window_low, min(first + sizes.piece_max, high - sizes.piece_min))
        end = _best_boundary(rank, window_low, window_high, first + sizes.target - sizes.overlap)
        pieces.append((first, end))
        first = end
    pieces.append((first, high))
    return pieces


def _overlap_start(rank: list[int], first: int, earliest: int, overlap: int) -> int:
    """Where a chunk whose piece starts at word `first` begins: `overlap` words earlier, at a sentence start when one
    is within half that distance, and not before `earliest` (past the previous piece's start, within the maximum)."""
    if not overlap or earliest >= first:
        return first
    aim = max(first - overlap, earliest)
    slack = max(1, overlap // 2)
    low, high = max(earliest, aim - slack), min(first - 1, aim + slack)
    if low > high:
        return aim
    best = _best_boundary(rank, low, high, aim)
    return best if rank[best] >= _SENTENCE else max(low, min(aim, high))


def _best_boundary(rank: list[int], low: int, high: int, aim: int) -> int:
    """The index in [low, high] whose boundary ranks highest, the nearest to `aim` among equals."""
    best = low
    best_key = (rank[low], -abs(low - aim))
    for i in range(low + 1, high + 1):
        key = (rank[i], -abs(i - aim))
        if key > best_key:
            best, best_key = i, key
    return best
