"""Seeded synthetic dumps for campaign detection: organic posts with planted campaigns.

Used by the tests and by ``bench/campaigns.py``.  Organic posts are varied Japanese built
from ``tests/data/campaigns/vocabulary.json`` (slot templates: daily life, opinions on
issues, headlines shared with a reader's own comment) and from sentences of ``labels/``
with a comment added, so that they share skeletons and vocabulary the way real posts do
without being copies.  They include organic near-duplicates that are not campaigns: the
same headline shared by many readers, each with their own comment.  Planted campaigns
push one text through 5-30 accounts within minutes, each copy with 1-5 character edits,
and often a swapped emoji, an added @mention or a link.  Share-button posts (a headline and
its link, nothing else, from many readers) are a group of their own.
"""

from __future__ import annotations

import json
import random
import re
import string
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VOCABULARY = Path(__file__).resolve().parent / "data" / "campaigns" / "vocabulary.json"
START = int(datetime(2024, 11, 1, tzinfo=timezone.utc).timestamp())
DAY = 86_400
SLOT_RE = re.compile(r"\{(\w+)\}")
SENTENCE_RE = re.compile(r"[^。！？!?]+[。！？!?]")
#: The ``labels/`` files the generated posts draw sentences and campaign bases from: the set as
#: it stood when the campaign tests were written.  Every draw comes from one seeded stream, so a
#: new labels file would reshuffle every generated dump and move the tests' planted campaigns;
#: files added later (new labeling waves) are left out to keep the dumps the same.
LABEL_FILES = (
    "seed.jsonl", "written-asia-security.jsonl", "written-disasters-climate-crime.jsonl",
    "written-economy-tech.jsonl", "written-health.jsonl", "written-politics-history-immigration.jsonl",
    "written-wave2-a.jsonl", "written-wave2-b.jsonl", "written-wave3-a.jsonl", "written-wave3-b.jsonl",
    "written-wave3-c.jsonl", "written-wave3-d.jsonl", "written-wave4-quote.jsonl",
    "written-wave5-narrative.jsonl", "written-wave5-short.jsonl", "written-wave6-headlines-outlets-slogans.jsonl",
    "written-wave6-insinuation-conspiracy-anecdote.jsonl", "written-wave7-headlines-state-copy.jsonl",
    "written-world.jsonl",
)
#: Characters an edit inserts or substitutes: kana, common kanji, punctuation.
EDIT_CHARS = "あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわをん" \
             "アイウエオカキクケコサシスセソ日本国人大中小上下今年月時間政府者的生活問題社会経済!?、。…ー"


@dataclass(frozen=True, slots=True)
class SyntheticPost:
    """One generated post.  ``group`` is ``""`` for an organic post, ``campaign:N`` for a
    planted copy, ``share:N`` for a share-button post, ``headline:N`` for an organic post
    sharing headline N with its own comment."""

    post_id: str
    handle: str
    account: str
    time: int
    text: str
    group: str = ""
    p_wire: float = 0.5
    techniques: dict = field(default_factory=dict)

    @property
    def date(self) -> str:
        return datetime.fromtimestamp(self.time, tz=timezone.utc).isoformat()

    @property
    def planted(self) -> bool:
        return self.group.startswith("campaign:")

    def to_snscrape(self) -> dict:
        return {
            "_type": "snscrape.modules.twitter.Tweet",
            "url": f"https://twitter.com/{self.handle}/status/{self.post_id}",
            "date": self.date,
            "id": int(self.post_id),
            "rawContent": self.text,
            "user": {"username": self.handle, "displayname": self.account},
            "retweetedTweet": None,
            "quotedTweet": None,
            "inReplyToTweetId": None,
        }

    def to_row(self) -> dict:
        """A score row as ``postcred score`` writes it in JSONL (for direct feeding)."""
        return {
            "id": f"synthetic:{self.post_id}", "post_id": self.post_id, "account": self.account,
            "handle": self.handle, "date": self.date, "role": "post", "kind": "post", "text": self.text,
            "p_wire": self.p_wire, "label": "wire" if self.p_wire >= 0.5 else "partisan",
            "techniques": dict(self.techniques),
        }


def label_texts() -> tuple[list[str], list[str]]:
    """(wire sentences, partisan texts) of the ``LABEL_FILES`` of ``labels/``: sentences of
    15-60 characters for organic posts, whole partisan texts of 40-140 for campaign bases."""
    sentences, partisan = set(), set()
    for path in sorted(ROOT / "labels" / name for name in LABEL_FILES):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            text = " ".join(str(row.get("text", "")).split())
            if "http" in text or "@" in text:
                continue
            for sentence in SENTENCE_RE.findall(text):
                if 15 <= len(sentence) <= 60:
                    sentences.add(sentence.strip())
            if row.get("label") == "partisan" and 40 <= len(text) <= 140:
                partisan.add(text)
    return sorted(sentences), sorted(partisan)


class DumpGenerator:
    """Seeded generator of organic posts, planted campaigns and share-button posts."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)
        self.vocab = json.loads(VOCABULARY.read_text(encoding="utf-8"))
        sentences, partisan = label_texts()
        self.rng.shuffle(partisan)
        # Campaign bases never come from the texts organic posts quote.
        self.bases = partisan[: len(partisan) // 2]
        partisan_sentences = {s for text in partisan[len(partisan) // 2:] for s in SENTENCE_RE.findall(text)}
        in_bases = {s for text in self.bases for s in SENTENCE_RE.findall(text)}
        self.sentences = [s for s in sentences if s not in in_bases]
        self.sentences += sorted(s for s in partisan_sentences if 15 <= len(s) <= 60)
        self._sentence_queue: list[str] = []
        self._used_bases: list[set[str]] = []
        self.next_id = 1_800_000_000_000_000_000

    # ------------------------------------------------------------ pieces

    def fill(self, template: str) -> str:
        def slot(match: re.Match) -> str:
            name = match.group(1).rstrip("0123456789")
            return self.rng.choice(self.vocab[name])

        return SLOT_RE.sub(slot, template)

    def comment(self) -> str:
        rng = self.rng
        text = self.fill(rng.choice(self.vocab["comment_templates"]))
        if rng.random() < 0.5:
            text = rng.choice(self.vocab["opener"]) + text
        return text

    def daily(self) -> str:
        return self.fill(self.rng.choice(self.vocab["daily_templates"]))

    def emoji_tail(self, p: float = 0.35) -> str:
        rng = self.rng
        if rng.random() >= p:
            return ""
        return "".join(rng.choice(self.vocab["emoji"]) for _ in range(rng.choice((1, 1, 2, 3))))

    def headline(self) -> str:
        return self.fill(self.vocab["headline_template"]).strip()

    def url(self) -> str:
        return "https://t.co/" + "".join(self.rng.choices(string.ascii_letters + string.digits, k=10))

    def organic_text(self, headlines: list[str]) -> tuple[str, str]:
        """An organic post's text and group (``headline:N`` when it shares a headline)."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.3:
            text = self.daily() + rng.choice(("", "。", " ", "\n")) + rng.choice((self.daily, self.comment))()
        elif roll < 0.6:
            text = self.comment() + rng.choice(("。", "。", "…", "! ", "\n")) + self.comment()
        elif roll < 0.8:
            sentence = self.sentence()
            comment = self.comment()
            while len(comment) < len(sentence):
                comment += rng.choice(("。", " ", "…")) + self.comment()
            text = sentence + rng.choice((" ", "\n", " → ")) + comment
        else:
            n = rng.randrange(len(headlines))
            comment = self.comment()
            while len(comment) < len(headlines[n]):
                comment += rng.choice(("。", " ", "!")) + self.comment()
            return f"{comment} {headlines[n]} {self.url()}{self.emoji_tail(0.2)}", f"headline:{n}"
        return text + self.emoji_tail(), ""

    def sentence(self) -> str:
        """The next sentence of ``labels/`` (in a shuffled order, each once per round)."""
        if not self._sentence_queue:
            self._sentence_queue = list(self.sentences)
            self.rng.shuffle(self._sentence_queue)
        return self._sentence_queue.pop()

    def campaign_base(self) -> str:
        """A campaign's text, 40-140 characters (its length drawn evenly): a partisan text
        of ``labels/`` of about that length, or a filled campaign template grown to it."""
        rng = self.rng
        while True:
            length = rng.randint(40, 140)
            near = [text for text in self.bases if abs(len(text) - length) <= 10]
            if near and rng.random() < 0.5:
                text = rng.choice(near)
            else:
                text = self.fill(rng.choice(self.vocab["campaign_templates"]))
                while len(text) < length - 10:
                    piece = self.fill(rng.choice(("{claim}", "{claim}", "{demand}", "{spread}")))
                    if piece not in text:
                        text += "。" + piece
                if rng.random() < 0.6:
                    text += " " + rng.choice(self.vocab["tag"])
            text += rng.choice(self.vocab["angry_emoji"]) * rng.choice((1, 1, 2))
            grams = trigrams(text)
            if 40 <= len(text) <= 140 and all(_jaccard(grams, other) < 0.3 for other in self._used_bases):
                self._used_bases.append(grams)  # two planted groups never push one text
                return text

    def edited(self, text: str, edits: int) -> str:
        """``text`` with ``edits`` random one-character substitutions, insertions or deletions."""
        rng = self.rng
        chars = list(text)
        for _ in range(edits):
            op = rng.choice(("sub", "ins", "del"))
            at = rng.randrange(len(chars))
            if op == "sub":
                chars[at] = rng.choice(EDIT_CHARS)
            elif op == "ins":
                chars.insert(at, rng.choice(EDIT_CHARS))
            elif len(chars) > 1:
                del chars[at]
        return "".join(chars)

    def campaign_copy(self, base: str) -> str:
        """A planted copy: 1-5 character edits (one of them, half the time, an emoji
        swapped or added), maybe an @mention in front and a link at the end."""
        rng = self.rng
        edits = rng.randint(1, 5)
        text = base
        if rng.random() < 0.5:
            edits -= 1
            emoji = [e for e in self.vocab["angry_emoji"] if e in text]
            if emoji and rng.random() < 0.7:
                text = text.replace(rng.choice(emoji), rng.choice(self.vocab["angry_emoji"]), 1)
            else:
                text += rng.choice(self.vocab["angry_emoji"])
        text = self.edited(text, edits)
        if rng.random() < 0.5:
            text = f"@{self.handle('target')} {text}"
        if rng.random() < 0.3:
            text += " " + self.url()
        return text

    def handle(self, prefix: str) -> str:
        return f"{prefix}_{self.rng.randrange(10**6):06d}"

    def post_id(self) -> str:
        self.next_id += self.rng.randint(1, 999)
        return str(self.next_id)

    # ------------------------------------------------------------ dumps

    def dump(
        self,
        *,
        organic: int = 10_000,
        campaigns: int = 20,
        accounts: tuple[int, int] = (5, 30),
        share_button: int = 0,
        days: int = 14,
        organic_accounts: int | None = None,
        puppets: int = 200,
    ) -> list[SyntheticPost]:
        """Organic posts, planted campaigns and share-button posts, in time order."""
        rng = self.rng
        headlines = sorted({self.headline() for _ in range(max(organic // 40, 5))})
        organic_accounts = organic_accounts or max(organic // 3, 10)
        people = [(f"user_{i:07d}", f"利用者{i}") for i in range(organic_accounts)]
        posts = []
        for _ in range(organic):
            handle, name = rng.choice(people)
            text, group = self.organic_text(headlines)
            p_wire = rng.uniform(0.3, 0.8) if group else rng.uniform(0.02, 0.5)
            posts.append(SyntheticPost(self.post_id(), handle, name, START + rng.randrange(days * DAY), text, group,
                                       round(p_wire, 4), {"Loaded_Language": 1} if rng.random() < 0.2 else {}))
        for _ in range(share_button):
            handle, name = rng.choice(people)
            n = rng.randrange(len(headlines))
            posts.append(SyntheticPost(self.post_id(), handle, name, START + rng.randrange(days * DAY),
                                       f"{headlines[n]} https://t.co/share{n:05d}", f"share:{n}",
                                       round(rng.uniform(0.85, 0.99), 4), {}))
        pool = [(f"puppet_{i:04d}", f"愛国者{i}号") for i in range(puppets)]
        for c in range(campaigns):
            posts.extend(self.campaign(c, rng.sample(pool, rng.randint(*accounts)), days))
        posts.sort(key=lambda p: (p.time, p.post_id))
        return posts

    def campaign(self, number: int, members: list[tuple[str, str]], days: int) -> list[SyntheticPost]:
        """One planted campaign: a base text pushed by ``members``, fast (seconds apart)
        or slow (minutes apart)."""
        rng = self.rng
        base = self.campaign_base()
        at = START + rng.randrange(days * DAY)
        mean_gap = rng.choice((20, 45, 90, 600))
        posts = []
        for handle, name in members:
            posts.append(SyntheticPost(self.post_id(), handle, name, at, self.campaign_copy(base), f"campaign:{number}",
                                       round(rng.uniform(0.01, 0.2), 4), {"Loaded_Language": 2, "Slogans": 1}))
            at += max(1, int(rng.expovariate(1 / mean_gap)))
        return posts


def trigrams(text: str) -> set[str]:
    return {text[i:i + 3] for i in range(len(text) - 2)}


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def shuffled_copy(post: SyntheticPost, rng: random.Random) -> SyntheticPost:
    """A control: the post with its characters in random order (same characters, no shared text)."""
    chars = list(post.text)
    rng.shuffle(chars)
    return SyntheticPost(post.post_id, post.handle, post.account, post.time, "".join(chars), post.group,
                         post.p_wire, post.techniques)


def write_snscrape(posts: list[SyntheticPost], path: Path) -> Path:
    """The posts as an snscrape JSONL dump ``postcred score`` reads."""
    path.write_text("".join(json.dumps(p.to_snscrape(), ensure_ascii=False) + "\n" for p in posts), encoding="utf-8")
    return path
