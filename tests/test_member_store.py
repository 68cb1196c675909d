"""The campaign membership rows the database tables are written from, kept on disk: each
(campaign, post) once, read back in the order given and a campaign at a time."""

from __future__ import annotations

import pytest

from classifier.accounts import time_zone
from classifier.database import campaign_rows
from classifier.errors import OutputError
from classifier.member_store import MemberStore, stored_members


def member(campaign, post_id, **fields):
    return {"campaign": campaign, "post_id": post_id, "text": "not kept", **fields}


def test_each_campaign_post_once_in_the_order_given_its_values_as_given(tmp_path):
    rows = [
        member("C0002", "p1", handle="a", date="2024-05-01T10:00:00+09:00", p_wire=0.25, similarity=1.0),
        member("C0001", "p2", handle="b", date="", p_wire="", similarity=0.875),
        member("C0002", "p1", handle="z", p_wire=0.9),  # the same (campaign, post): the first row stays
        member("C0002", 7, account="A", p_wire="0.5"),  # a number as a post id, a number as text
        member("C0001", "p1"),
    ]
    with MemberStore(tmp_path) as store:
        store.add(rows[:2])
        passed = list(store.passing(iter(rows[2:])))
        assert passed == rows[2:], "every row passes through, duplicates too"
        members = list(store.members())
        assert [(m["campaign"], m["post_id"]) for m in members] == [("C0002", "p1"), ("C0001", "p2"), ("C0002", "7"),
                                                                   ("C0001", "p1")]
        assert members[0] == {"campaign": "C0002", "post_id": "p1", "account": None, "handle": "a",
                              "date": "2024-05-01T10:00:00+09:00", "p_wire": 0.25, "similarity": 1.0}
        assert members[1]["p_wire"] == "" and members[2]["p_wire"] == "0.5" and members[2]["account"] == "A"
        grouped = [(campaign, [m["post_id"] for m in posts]) for campaign, posts in store.by_campaign()]
        assert grouped == [("C0002", ["p1", "7"]), ("C0001", ["p2", "p1"])]
        assert len(store) == 4
        assert len(list(tmp_path.iterdir())) == 1, "one temporary file while open"
    assert list(tmp_path.iterdir()) == [], "removed when closed"


def test_campaign_rows_from_the_store_summarize_each_campaign(tmp_path):
    rows = [member("C1", f"p{k}", handle=f"h{k % 2}", date=f"2024-05-0{k + 1}T12:00:00+09:00", p_wire=p)
            for k, p in enumerate([0.1, 0.2, 0.9])]
    rows.append(member("C2", "q", p_wire=""))
    with stored_members(rows, tmp_path) as store:
        summaries = list(campaign_rows(store.by_campaign(), time_zone("Asia/Tokyo")))
    assert summaries == [
        {"campaign": "C1", "posts": 3, "accounts": 2, "first_date": "2024-05-01", "last_date": "2024-05-03",
         "mean_p_wire": 0.4, "partisan_share": round(2 / 3, 4)},
        {"campaign": "C2", "posts": 1, "accounts": None, "first_date": None, "last_date": None,
         "mean_p_wire": None, "partisan_share": None},
    ]
    assert list(tmp_path.iterdir()) == []


def test_a_folder_that_cannot_hold_the_store_is_one_clear_error(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    with pytest.raises(OutputError, match="temporary file of the campaign tables"):
        MemberStore(blocked / "inside")
