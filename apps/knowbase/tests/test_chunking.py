"""chunk_document: sizes, overlap, spans, section boundaries, and hashes that make re-ingest cheap."""

from __future__ import annotations

import hashlib
import itertools
import random
import re

import pytest

from apps.knowbase.chunking import ChunkDraft, chunk_document, embedding_input, estimate_tokens
from apps.knowbase.extraction import ExtractedText, extract
from apps.knowbase.tests.pdfs import make_pdf

TARGET = 170
MAX_WORDS = 195  # int(170 * 1.15), overlap included
MIN_WORDS = 59  # int(170 * 0.35): no cut leaves fewer
OVERLAP_WORDS = 26  # round(170 * 0.15)

_VOCABULARY = [
    "the", "a", "of", "to", "and", "in", "is", "it", "for", "on", "with", "as", "by", "at", "from", "this", "that",
    "be", "are", "was", "data", "model", "query", "index", "vector", "search", "document", "chunk", "page",
    "heading", "embed", "token", "server", "worker", "cache", "user", "team", "project", "build", "deploy", "test",
    "run", "config",
]  # fmt: skip


def _sentence(rng: random.Random, words: int | None = None) -> str:
    count = words if words is not None else rng.randint(6, 18)
    return " ".join(rng.choice(_VOCABULARY) for _ in range(count)).capitalize() + "."


def _paragraph(rng: random.Random, sentences: int | None = None) -> str:
    return " ".join(_sentence(rng) for _ in range(sentences if sentences is not None else rng.randint(2, 6)))


def _prose(seed: int, paragraphs: int) -> list[str]:
    rng = random.Random(seed)
    return [_paragraph(rng) for _ in range(paragraphs)]


def _markdown(sections: dict[str, list[str]]) -> str:
    parts = []
    for heading, paragraphs in sections.items():
        parts.append(heading)
        parts.extend(paragraphs)
    return "\n\n".join(parts) + "\n"


def _doc() -> dict[str, list[str]]:
    return {
        "# Guide": _prose(1, 3),
        "## Install": _prose(2, 14),
        "### Docker": _prose(3, 9),
        "## Usage": _prose(4, 12),
    }


def _chunks(text: str, kind: str = "markdown", *, title: str = "Guide") -> tuple[ExtractedText, list[ChunkDraft]]:
    extracted = extract(text.encode(), kind)  # type: ignore[arg-type]
    return extracted, chunk_document(extracted, title=title)


def _words(text: str) -> int:
    return len(text.split())


def _by_section(chunks: list[ChunkDraft]) -> list[list[ChunkDraft]]:
    groups: list[list[ChunkDraft]] = []
    for chunk in chunks:
        if groups and (groups[-1][0].heading_path, groups[-1][0].page) == (chunk.heading_path, chunk.page):
            groups[-1].append(chunk)
        else:
            groups.append([chunk])
    return groups


# --- shape --------------------------------------------------------------------------------------------------------


def test_embedding_input_prefixes_title_and_heading_path() -> None:
    assert embedding_input("My Doc", ("Install", "Docker"), "Body.") == "My Doc\nInstall > Docker\n\nBody."
    assert embedding_input("My Doc", (), "Body.") == "My Doc\n\nBody."
    assert embedding_input("", (), "Body.") == "Body."
    assert embedding_input("  Spaced\n title ", ("A",), "Body.") == "Spaced title\nA\n\nBody."


def test_chunks_are_numbered_in_document_order_and_hash_what_is_embedded() -> None:
    _extracted, chunks = _chunks(_markdown(_doc()))
    assert [chunk.position for chunk in chunks] == list(range(len(chunks)))
    assert [chunk.char_start for chunk in chunks] == sorted(chunk.char_start for chunk in chunks)
    for chunk in chunks:
        expected = hashlib.sha256(embedding_input("Guide", chunk.heading_path, chunk.text).encode()).hexdigest()
        assert chunk.content_hash == expected


def test_chunk_spans_map_back_to_the_text() -> None:
    for kind in ("text", "markdown", "html"):
        source = _markdown(_doc())
        if kind == "html":
            source = re.sub(r"^#+ (.*)$", r"<h2>\1</h2>", source, flags=re.M)
            source = "".join(f"<p>{part}</p>" if not part.startswith("<h2>") else part for part in source.split("\n\n"))
        extracted, chunks = _chunks(source, kind)
        assert chunks
        for chunk in chunks:
            assert extracted.text[chunk.char_start : chunk.char_end] == chunk.text
            assert chunk.text == chunk.text.strip()


def test_chunk_sizes_stay_within_bounds() -> None:
    extracted, chunks = _chunks(_markdown(_doc()))
    for chunk in chunks:
        section = next(section for section in extracted.sections if section.heading_path == chunk.heading_path)
        assert min(MIN_WORDS, _words(section.text)) <= _words(chunk.text) <= MAX_WORDS
    assert max(chunk.token_count for chunk in chunks) <= 256


@pytest.mark.parametrize(
    "paragraphs",
    [
        [_paragraph(random.Random(seed)) for seed in range(80)],  # ordinary paragraphs
        [_sentence(random.Random(seed)) for seed in range(300)],  # one sentence each
        [_paragraph(random.Random(seed), 40) for seed in range(4)],  # huge paragraphs
        [" ".join(_sentence(random.Random(seed)) for seed in range(400))],  # one paragraph
    ],
    ids=["paragraphs", "one-liners", "huge-paragraphs", "one-paragraph"],
)
def test_a_long_section_is_cut_into_chunks_of_about_the_target(paragraphs: list[str]) -> None:
    _extracted, chunks = _chunks("\n\n".join(paragraphs), "text")
    sizes = [_words(chunk.text) for chunk in chunks]
    assert len(chunks) > 5
    assert all(MIN_WORDS <= size <= MAX_WORDS for size in sizes)
    assert 120 <= sum(sizes) / len(sizes) <= 180


def test_consecutive_chunks_of_a_section_overlap_by_about_fifteen_percent_of_the_target() -> None:
    _extracted, chunks = _chunks("\n\n".join(_prose(5, 40)), "text")
    assert len(chunks) >= 3
    for previous, chunk in itertools.pairwise(chunks):
        assert chunk.char_start < previous.char_end
        shared = _words(previous.text[chunk.char_start - previous.char_start :])
        assert OVERLAP_WORDS // 2 <= shared <= OVERLAP_WORDS * 3 // 2


def test_no_overlap_across_sections() -> None:
    _extracted, chunks = _chunks(_markdown(_doc()))
    for section, following in itertools.pairwise(_by_section(chunks)):
        assert section[-1].char_end < following[0].char_start


def test_overlap_zero_gives_disjoint_chunks() -> None:
    extracted = extract("\n\n".join(_prose(5, 40)).encode(), "text")
    chunks = chunk_document(extracted, title="T", overlap=0)
    for previous, chunk in itertools.pairwise(chunks):
        assert previous.char_end < chunk.char_start


def test_cuts_prefer_paragraph_then_sentence_boundaries() -> None:
    rng = random.Random(7)
    paragraphs = [_paragraph(rng, 4) for _ in range(30)]  # about 50 words each
    _extracted, chunks = _chunks("\n\n".join(paragraphs), "text")
    for chunk in chunks[:-1]:
        assert chunk.text.endswith(".")
        assert any(paragraph.endswith(chunk.text[-40:]) for paragraph in paragraphs)

    one_long_paragraph = " ".join(_sentence(rng) for _ in range(80))
    _extracted, chunks = _chunks(one_long_paragraph, "text")
    assert len(chunks) > 3
    for chunk in chunks:
        assert chunk.text.endswith(".")
        assert chunk.text[0].isupper()  # overlap also starts at a sentence


def test_text_without_sentences_is_cut_at_words() -> None:
    rng = random.Random(3)
    text = " ".join(rng.choice(_VOCABULARY) for _ in range(1000))
    extracted, chunks = _chunks(text, "text")
    assert all(_words(chunk.text) <= MAX_WORDS for chunk in chunks)
    assert {word for chunk in chunks for word in chunk.text.split()} == set(text.split())
    assert chunks[0].char_start == 0
    assert chunks[-1].char_end == len(extracted.text)


def test_a_giant_word_is_cut_into_pieces() -> None:
    _extracted, chunks = _chunks("start " + "x" * 50_000 + " end", "text")
    assert len(chunks) > 1
    assert all(len(chunk.text) <= MAX_WORDS * 64 + MAX_WORDS for chunk in chunks)
    assert chunks[-1].text.endswith(" end")


def test_a_section_up_to_the_maximum_is_one_chunk() -> None:
    rng = random.Random(11)
    text = " ".join(_sentence(rng, 13) for _ in range(15))  # 195 words: over the target, at the maximum
    _extracted, chunks = _chunks(text, "text")
    assert len(chunks) == 1
    assert _words(chunks[0].text) == 195


@pytest.mark.parametrize("words", [196, 200, 230, 260, 400])
def test_no_tiny_trailing_piece_is_left(words: int) -> None:
    rng = random.Random(words)
    text = " ".join(rng.choice(_VOCABULARY) for _ in range(words - 1)) + " end."
    _extracted, chunks = _chunks(text, "text")
    assert len(chunks) >= 2
    assert all(MIN_WORDS <= _words(chunk.text) <= MAX_WORDS for chunk in chunks)
    assert chunks[-1].text.endswith("end.")


def test_a_short_section_is_one_chunk() -> None:
    _extracted, chunks = _chunks("# Title\n\nJust a few words here.\n")
    assert [(chunk.text, chunk.heading_path) for chunk in chunks] == [("Just a few words here.", ("Title",))]


def test_bad_parameters_are_rejected() -> None:
    extracted = extract(b"Some words.", "text")
    with pytest.raises(ValueError, match="overlap"):
        chunk_document(extracted, title="T", overlap=0.5)
    with pytest.raises(ValueError, match="target_words"):
        chunk_document(extracted, title="T", target_words=2)


def test_token_estimate() -> None:
    assert estimate_tokens("The quick brown fox jumps over the lazy dog.") == 10
    assert estimate_tokens("") == 0
    assert estimate_tokens("internationalisation") > 1


# --- boundaries -----------------------------------------------------------------------------------------------------


def test_no_chunk_crosses_a_heading() -> None:
    extracted, chunks = _chunks(_markdown(_doc()))
    for chunk in chunks:
        assert "#" not in chunk.text
        section = next(section for section in extracted.sections if section.heading_path == chunk.heading_path)
        assert section.start <= chunk.char_start < chunk.char_end <= section.start + len(section.text)
    assert {chunk.heading_path for chunk in chunks} == {
        ("Guide",),
        ("Guide", "Install"),
        ("Guide", "Install", "Docker"),
        ("Guide", "Usage"),
    }


def test_a_chunk_from_page_two_says_page_two() -> None:
    pages = [
        "\n".join(_prose(21, 8)),
        "Only on page two: the marker sentence.\n" + "\n".join(_prose(22, 8)),
        "\n".join(_prose(23, 8)),
    ]
    extracted = extract(make_pdf(pages, title="Three"), "pdf")
    chunks = chunk_document(extracted, title="Three")
    marked = [chunk for chunk in chunks if "marker sentence" in chunk.text]
    assert [chunk.page for chunk in marked] == [2]
    assert {chunk.page for chunk in chunks} == {1, 2, 3}
    assert [chunk.page for chunk in chunks] == sorted(chunk.page or 0 for chunk in chunks)
    for chunk in chunks:
        assert extracted.text[chunk.char_start : chunk.char_end] == chunk.text


# --- hashes and re-ingest -------------------------------------------------------------------------------------------


def test_hashes_are_deterministic() -> None:
    _extracted, first = _chunks(_markdown(_doc()))
    _extracted, second = _chunks(_markdown(_doc()))
    assert first == second


def test_a_changed_title_changes_every_hash() -> None:
    _extracted, before = _chunks(_markdown(_doc()), title="Guide")
    _extracted, after = _chunks(_markdown(_doc()), title="Handbook")
    assert [chunk.text for chunk in before] == [chunk.text for chunk in after]
    assert not {chunk.content_hash for chunk in before} & {chunk.content_hash for chunk in after}


def test_a_changed_heading_changes_only_the_hashes_under_it() -> None:
    doc = _doc()
    renamed = {("## Setup" if heading == "## Install" else heading): body for heading, body in doc.items()}
    _extracted, before = _chunks(_markdown(doc))
    _extracted, after = _chunks(_markdown(renamed))
    for old, new in zip(before, after, strict=True):
        assert old.text == new.text
        under = len(old.heading_path) >= 2 and old.heading_path[1] == "Install"
        assert (old.content_hash != new.content_hash) is under


def _changed(before: list[ChunkDraft], after: list[ChunkDraft]) -> tuple[set[str], set[str]]:
    """The hashes only in `before` (no longer needed) and only in `after` (to embed)."""
    old = {chunk.content_hash for chunk in before}
    new = {chunk.content_hash for chunk in after}
    return old - new, new - old


def _edit_spans(old: str, new: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """The stretch that differs between two texts: (start, end) in the old one and in the new one."""
    prefix = 0
    while prefix < min(len(old), len(new)) and old[prefix] == new[prefix]:
        prefix += 1
    suffix = 0
    while suffix < min(len(old), len(new)) - prefix and old[-1 - suffix] == new[-1 - suffix]:
        suffix += 1
    return (prefix, len(old) - suffix), (prefix, len(new) - suffix)


def _holds(chunk: ChunkDraft, span: tuple[int, int]) -> bool:
    """Whether the chunk contains (or touches) the edited stretch."""
    return chunk.char_start <= span[1] and chunk.char_end >= span[0]


def _edit(paragraphs: list[str], index: int, edited: str) -> list[str]:
    return [*paragraphs[:index], edited, *paragraphs[index + 1 :]]


@pytest.mark.parametrize(
    "edit",
    [
        lambda paragraph: paragraph.replace(".", "!", 1),  # same length
        lambda paragraph: paragraph + " An added sentence of eight more words here.",  # longer
        lambda paragraph: paragraph.split(". ", 1)[-1],  # a sentence shorter
        lambda paragraph: paragraph.replace(" ", " new words ", 1),  # longer, at the start
    ],
    ids=["same-length", "longer", "shorter", "longer-at-start"],
)
def test_a_changed_paragraph_changes_only_the_chunks_that_contain_it(edit: object) -> None:
    """Re-ingest embeds only the new hashes: the chunks holding the edit. Every other chunk keeps its hash."""
    doc = _doc()
    index = 6
    edited_doc = {**doc, "## Install": _edit(doc["## Install"], index, edit(doc["## Install"][index]))}  # type: ignore[operator]
    assert edited_doc != doc

    old_text, before = _chunks(_markdown(doc))
    new_text, after = _chunks(_markdown(edited_doc))
    old_span, new_span = _edit_spans(old_text.text, new_text.text)
    gone, new = _changed(before, after)

    assert new == {chunk.content_hash for chunk in after if _holds(chunk, new_span)}
    assert gone == {chunk.content_hash for chunk in before if _holds(chunk, old_span)}
    assert 1 <= len(new) <= 2
    assert len(after) >= 9


def test_edits_anywhere_in_a_section_stay_local() -> None:
    """Over every paragraph of a long section, an edit that changes the paragraph's length re-embeds the chunks that
    hold it and seldom another: content-defined cuts fall back into step right after the edit (cuts measured from
    the section's start would shift every later chunk)."""
    paragraphs = [_paragraph(random.Random(seed)) for seed in range(40)]
    doc = {"# Guide": _prose(1, 2), "## Install": paragraphs}
    old_text, before = _chunks(_markdown(doc))
    others_changed = 0
    for index, paragraph in enumerate(paragraphs):
        edited = _edit(paragraphs, index, paragraph + " An added sentence of eight more words here.")
        new_text, after = _chunks(_markdown({**doc, "## Install": edited}))
        _old_span, new_span = _edit_spans(old_text.text, new_text.text)
        _gone, new = _changed(before, after)
        others_changed += len([chunk for chunk in after if chunk.content_hash in new and not _holds(chunk, new_span)])
    assert others_changed <= len(paragraphs) // 5


def test_an_inserted_section_leaves_the_other_chunks_alone() -> None:
    doc = _doc()
    extended = {**doc, "## Appendix": _prose(30, 5)}
    _extracted, before = _chunks(_markdown(doc))
    _extracted, after = _chunks(_markdown(extended))
    gone, new = _changed(before, after)
    assert gone == set()
    assert new == {chunk.content_hash for chunk in after if chunk.heading_path == ("Guide", "Appendix")}
