"""Patterns of the entities a post's text holds: URLs, @handles and hashtags.

Shared by the tokenizer (:mod:`classifier.tokens`, which sets them apart from MeCab and
lists them on each segment) and the campaign sketches (:mod:`classifier.campaign_sketch`),
in a module of their own so that neither has to load the other's dependencies.
"""

from __future__ import annotations

import re

URL_RE = re.compile(
    r"(?:https?://|(?<![A-Za-z0-9.\-])(?:pic\.twitter\.com|t\.co|x\.com|twitter\.com)/)[^\s<>\"'「」『』（）()、。]+",
    re.IGNORECASE,
)
MENTION_RE = re.compile(r"(?<![\w@])@[A-Za-z0-9_]{1,30}")
HASHTAG_RE = re.compile(r"(?<![A-Za-z0-9_&/])#[^\s#@.,!?;:'\"()\[\]{}<>。、！？「」『』（）【】・]+")
