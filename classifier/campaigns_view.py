"""The report's Campaigns view: what it shows of each campaign, prepared in Python.

The view (``templates/_report_campaigns.html`` and ``templates/campaigns.js``) lists the
campaigns largest first (copypasta before share templates, then by accounts, as
:class:`~classifier.campaigns.CampaignSet` ranks them), each with its posts side by side:
account, time, similarity to the first post, p_wire, and the text with the characters
that differ from the first post's marked.  The differences are computed here
(:func:`diff_pieces`, ``difflib`` over characters) and go to the page as plain strings in
JSON, which the script puts into the page as text, never as markup.

A big dump can have thousands of campaigns of thousands of posts: the view holds the
first :data:`MAX_CAMPAIGNS` campaigns with up to :data:`POSTS_PER_CAMPAIGN` posts each,
and says what it left out (the campaign files have everything).
"""

from __future__ import annotations

from difflib import SequenceMatcher
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    from .campaigns import Campaign, CampaignSet

#: Campaigns the report shows (largest first); the campaign files list every one.
MAX_CAMPAIGNS = 300
#: Posts shown per campaign, in time order from its first; the rest are counted.
POSTS_PER_CAMPAIGN = 40
#: Pieces of a post's text against the campaign's first post: the same characters, the
#: characters this post has in their place or in addition, the first post's characters
#: this post lacks.
SAME, CHANGED, MISSING = 0, 1, 2
#: Columns of a post row in the view's JSON (the script maps them back).
POST_COLUMNS = ("id", "account", "handle", "date", "offset", "similarity", "p_wire", "techniques", "pieces")


def diff_pieces(first: str, text: str) -> list[tuple[int, str]]:
    """``text`` cut into pieces against ``first``, each ``(kind, characters)`` with kind
    :data:`SAME`, :data:`CHANGED` (in ``text``, not in ``first``) or :data:`MISSING` (in
    ``first`` only); the SAME and CHANGED pieces joined give ``text`` back.

    >>> diff_pieces("増税反対！拡散して", "増税反対!!拡散してね")
    [(0, '増税反対'), (2, '！'), (1, '!!'), (0, '拡散して'), (1, 'ね')]
    """
    if text == first:
        return [(SAME, text)] if text else []
    pieces: list[tuple[int, str]] = []
    for op, a1, a2, b1, b2 in SequenceMatcher(None, first, text, autojunk=False).get_opcodes():
        if op == "equal":
            pieces.append((SAME, text[b1:b2]))
            continue
        if a2 > a1:
            pieces.append((MISSING, first[a1:a2]))
        if b2 > b1:
            pieces.append((CHANGED, text[b1:b2]))
    return pieces


def _post_row(post, first_text: str) -> list:
    return [post.id, post.account, post.handle, post.date, post.offset, post.similarity, post.p_wire,
            post.techniques, diff_pieces(first_text, post.text)]


def _campaign(campaign: Campaign, posts_per_campaign: int) -> dict:
    first = campaign.posts[0]
    shown = campaign.posts[:posts_per_campaign]
    return {
        "id": campaign.id,
        "kind": campaign.kind,
        "key": first.id,
        "posts": len(campaign.posts),
        "accounts": campaign.accounts,
        "texts": campaign.texts,
        "first": campaign.first,
        "last": campaign.last,
        "time_unit": campaign.time_unit,
        "span": campaign.span,
        "median_gap": campaign.median_gap,
        "fast_pairs": campaign.fast_pairs,
        "median_p_wire": campaign.median_p_wire,
        "top_techniques": campaign.top_techniques,
        "url_share": campaign.url_share,
        "rows": [_post_row(post, first.text) for post in shown],
    }


def campaign_view(result: CampaignSet | None, segment_ids: Iterable[str] = (), *,
                  max_campaigns: int = MAX_CAMPAIGNS, posts_per_campaign: int = POSTS_PER_CAMPAIGN) -> dict | None:
    """The Campaigns view's data (None when the run did not look for campaigns).

    ``segment_ids`` are the segments the report lists: each of them that belongs to a
    campaign gets its campaign's id (``segments``), for the link from its row.
    """
    if result is None:
        return None
    listed = set(segment_ids)
    shown = result.campaigns[:max_campaigns]
    segments = {post.id: campaign.id for campaign in result.campaigns for post in campaign.posts if post.id in listed}
    kinds = {kind: sum(1 for c in result.campaigns if c.kind == kind) for kind in ("copypasta", "share_template")}
    return {
        "total": len(result.campaigns),
        "shown": len(shown),
        "kinds": kinds,
        "posts_in_campaigns": sum(len(c.posts) for c in result.campaigns),
        "posts_per_campaign": posts_per_campaign,
        "posts_left_out": sum(max(len(c.posts) - posts_per_campaign, 0) for c in shown),
        "time_resolution": result.time_resolution,
        "threshold": result.params.threshold,
        "min_accounts": result.params.min_accounts,
        "min_chars": result.params.min_chars,
        "columns": list(POST_COLUMNS),
        "campaigns": [_campaign(c, posts_per_campaign) for c in shown],
        "segments": segments,
    }
