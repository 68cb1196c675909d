"""Normalization and MeCab tokens: placeholders, emoji, lemmas and exact spans."""

from __future__ import annotations

import pickle
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classifier.tokens import JapaneseTokenizer, analyze, normalize, normalize_with_offsets


@pytest.mark.parametrize(
    "text, term",
    [
        ("詳細は https://t.co/AbC123 で", "<URL>"),
        ("画像 pic.twitter.com/9WrR7KU1kE", "<PIC>"),
        ("@nhk_news さんへ", "<USER>"),
        ("＃拡散希望", "<HASHTAG>"),
        ("🇷🇺が警告", "<FLAG>"),
        ("ひどい🐸", "<EMOJI>"),
        ("１２３人が参加", "<NUM>"),
        ("プーチン大統領が", "<PERSON>"),
    ],
)
def test_placeholder_terms(text, term):
    assert term in analyze(text).terms


def test_lemmas_not_surfaces():
    terms = analyze("会談しました。述べた。").terms
    assert "述べる" in terms and "ます" in terms
    assert "述べ" not in terms


def test_unidic_glosses_are_stripped():
    assert "ガソリン" in analyze("ガソリン価格").terms


@pytest.mark.parametrize(
    "text",
    [
        "🇷🇺メドベージェフが警告。@foo ＃拡散希望 ｶﾞｿﾘﾝ代が4日に１２３円 https://t.co/abc と述べた🐸",
        "「誠実で温かい同志としての挨拶」を伝えた",
        "ＡＢＣ　全角スペース　😡😡😡！！",
    ],
)
def test_token_spans_point_at_the_original_text(text):
    doc = analyze(text)
    for token in doc.tokens:
        original = text[token.start : token.end]
        assert normalize(original) == normalize(token.surface), (token, original)
    starts = [t.start for t in doc.tokens]
    assert starts == sorted(starts)


@pytest.mark.parametrize(
    "text, inside, outside",
    [
        ("首相は「断じて許さない」と非難した", "q:許す", "非難"),
        ("『売国奴』と呼ぶ投稿が拡散した", "q:売国", "拡散"),
    ],
)
def test_quoted_words_are_marked(text, inside, outside):
    terms = analyze(text).terms
    assert inside in terms and outside in terms
    assert inside.removeprefix("q:") not in terms
    assert analyze(text, quotes="keep").terms.count(inside.removeprefix("q:")) >= 1


def test_half_width_katakana_with_voiced_marks_maps_back():
    norm, offsets = normalize_with_offsets("ｶﾞｿﾘﾝ")
    assert norm == "ガソリン"
    assert offsets == [0, 2, 3, 4, 5]


def test_tokenizer_step_pickles_and_tokenizes_in_a_fresh_process():
    step = JapaneseTokenizer().fit(["x"])
    blob = pickle.dumps(step)
    code = (
        "import pickle,sys; step=pickle.loads(sys.stdin.buffer.read()); "
        "print(' '.join(step.transform(['北朝鮮が発表した'])[0].terms))"
    )
    out = subprocess.run([sys.executable, "-c", code], input=blob, capture_output=True, check=True)
    assert out.stdout.decode().split() == ["<PLACE>", "が", "発表", "為る", "た"]


@pytest.mark.parametrize("text", ["闇…みんな目覚めて", "重さ1㌔の荷物", "ｱﾞｲ…！！"])
def test_tokens_inside_an_expanded_character_keep_a_non_empty_span(text):
    doc = analyze(text)
    for token in doc.tokens:
        assert token.end > token.start, token
        assert normalize(token.surface) in normalize(text[token.start : token.end])


MECAB_TRICKY = [
    "東京都で  テストした。ｗｗ 😀 ｱｲｳ COVID-19 #タグ",
    "x\ty\nz　全角スペース\u00a0改行\r\nあり",
    "\u200b見えない\u200c文字\ufeffと制御\x01文字",
    "カンマ,入り\"引用\"の,CSV風,テキスト",
    "𠮷野家の髙橋さん①②㌔…",
    "EOS\nEOS で終わる EOS",
]


@pytest.mark.parametrize("text", MECAB_TRICKY)
def test_formatted_mecab_output_reads_as_the_nodes_do(text):
    """The tagger's one-line-per-token output gives exactly the words MeCab's nodes give."""
    from classifier.tokens import _mecab_words, _node_words

    chunk, _ = normalize_with_offsets(text)
    assert _mecab_words(chunk) == _node_words(chunk)


@pytest.mark.parametrize("text", MECAB_TRICKY)
def test_spans_are_the_same_with_and_without_the_identity_shortcut(text):
    from classifier.tokens import _mecab_tokens

    norm, offsets = normalize_with_offsets(text)
    general = _mecab_tokens(norm, 0, len(norm), offsets, identity=False)
    if offsets == list(range(len(offsets))):
        assert _mecab_tokens(norm, 0, len(norm), offsets, identity=True) == general
    for word, start, end in zip(*general):
        assert normalize(word[0]) in normalize(text[start:end])


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("あいうアイウｱｲｳﾞ漢字日本 \t\n　,\"EOS1１!！…㌔😀🇯🇵-#@/")), max_size=40))
def test_formatted_output_and_shortcut_hold_on_any_text(text):
    from classifier.tokens import _mecab_tokens, _mecab_words, _node_words

    norm, offsets = normalize_with_offsets(text)
    if norm.strip():
        assert _mecab_words(norm) == _node_words(norm)
    middle = len(norm) // 2  # a chunk that starts inside the text, as after a URL or an emoji
    for start in (0, middle):
        general = _mecab_tokens(norm, start, len(norm), offsets, identity=False)
        if offsets == list(range(len(offsets))):
            assert _mecab_tokens(norm, start, len(norm), offsets, identity=True) == general


def test_text_after_a_nul_character_is_still_tokenized():
    doc = analyze("前\x00後です")
    assert [t.surface for t in doc.tokens] == ["前", "後", "です"]
    assert [(t.start, t.end) for t in doc.tokens] == [(0, 1), (2, 3), (3, 5)]


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("国民民主党の代表は会見で述べた。", "国民民主党"),
        ("立憲民主党は法案に反対した。", "立憲民主党"),
        ("ＮＨＫ党の候補者が立候補した。", "NHK党"),
        ("中国共産党の大会が開かれた。", "中国共産党"),
        ("習近平国家主席は演説で述べた。", "習近平"),
        ("トランプ大統領は声明を出した。", "トランプ"),
    ],
)
def test_listed_names_become_one_proper_noun_token(text, name):
    """A name MeCab splits into common words (国民 民主 党, 習近 平) is one proper-noun token
    and one class term, with its span in the original text; the word 国民 on its own stays
    a word."""
    doc = analyze(text)
    [token] = [t for t in doc.tokens if t.lemma == name]
    assert token.pos2 == "固有名詞"
    assert doc.terms[doc.tokens.index(token)] == ("<PERSON>" if token.pos3 == "人名" else "<ORG>")
    assert doc.text[token.start : token.end] == text[: len(name)]
    assert "国民" in analyze("国民の生活を守る政策").terms


def _dictionary_resident_kb() -> int:
    """Resident KB of this process's mappings of MeCab's dictionary files (Linux smaps)."""
    import unidic_lite
    from pathlib import Path

    folder, name, total = str(Path(unidic_lite.DICDIR).resolve()), "", 0
    with open("/proc/self/smaps", encoding="utf-8", errors="replace") as smaps:
        for line in smaps:
            head = line.split()
            if head and "-" in head[0] and len(head) >= 5 and ":" not in head[0]:
                name = head[5] if len(head) > 5 else ""
            elif line.startswith("Rss:") and name.startswith(folder):
                total += int(head[1])
    return total


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/smaps")
def test_dictionary_pages_leave_memory_and_tokenizing_still_works():
    from classifier.tokens import release_dictionary_pages

    texts = [f"政府は{n}日、新しい経済対策を発表した。マスゴミは報じない！" for n in range(300)]
    before = [analyze(text).terms for text in texts]
    assert _dictionary_resident_kb() > 0
    assert release_dictionary_pages() > 0
    assert _dictionary_resident_kb() == 0
    assert [analyze(text).terms for text in texts] == before
    assert _dictionary_resident_kb() > 0  # mapped back as it is read
