"""Campaign files: reading an existing scores file, and writing what campaign detection
found (the campaigns' posts, one summary row per campaign, the account network for
Gephi, its edges and a manifest).

The library call behind ``postcred campaigns``: :func:`campaigns_from_scores` reruns
detection with other parameters on a scores file (CSV, JSONL, or a Dask engine's folder
of partitions, read by :class:`~classifier.scorefile.ScoreReader`) without rescoring.
Every file of a run is written through :func:`~classifier.outputs.all_or_none`, so a
failed run leaves all of its outputs or none.  ``postcred score`` writes the two campaign
CSVs with its other outputs (:func:`write_campaign_csvs`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sys
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Iterable, Iterator

from .campaigns import Campaign, CampaignFinder, CampaignParams, CampaignSet, PostRecord, parse_time
from .errors import OutputError
from .outputs import OutputSet, all_or_none, check_output_path, derived_path, excel_safe_cell
from .process_memory import give_back_large_blocks
from .scorefile import REQUIRED_COLUMNS as SCORE_COLUMNS
from .scorefile import ScoreReader

CAMPAIGN_COLUMNS = (
    "campaign", "kind", "id", "post_id", "account", "handle", "date", "offset", "time_unit", "similarity",
    "p_wire", "label", "techniques", "text",
)
SUMMARY_COLUMNS = (
    "campaign", "kind", "posts", "accounts", "texts", "first", "last", "time_unit", "span", "median_gap",
    "fast_pairs", "median_p_wire", "top_techniques", "url_share", "text",
)
EDGE_COLUMNS = ("source", "target", "weight", "campaigns", "first", "last")
#: Campaigns with more accounts than this stay out of the account network by default: a
#: text a thousand accounts posted says little about who works with whom, and would add
#: half a million edges.
NETWORK_MAX_ACCOUNTS = 1000
GEXF = "coordination.gexf"
EDGES = "coordination_edges.csv"
MANIFEST = "manifest.json"
#: Columns campaign detection reads from a scores file besides those every reader needs.
REQUIRED_COLUMNS = (*SCORE_COLUMNS, "text")


# ---------------------------------------------------------------- reading a scores file


def find_in_scores(path: str | Path, params: CampaignParams | None = None) -> tuple[CampaignSet, int]:
    """Campaigns among the rows of a scores file, and how many rows it had."""
    rows = ScoreReader(path, required=REQUIRED_COLUMNS)
    finder = CampaignFinder(params)
    counted = [0]

    def records() -> Iterator[PostRecord]:
        for row in rows:
            counted[0] += 1
            yield PostRecord.from_row(row)

    try:
        finder.add(records())
    except (ValueError, TypeError) as exc:
        raise rows.error(str(exc)) from None
    return finder.finish(), counted[0]


# ---------------------------------------------------------------- rows


def campaign_rows(result: CampaignSet) -> Iterator[dict]:
    """One row per post of every campaign (``<stem>.campaigns.csv``)."""
    for campaign in result.campaigns:
        for post in campaign.posts:
            yield {
                "campaign": campaign.id, "kind": campaign.kind, "id": post.id, "post_id": post.post_id,
                "account": post.account, "handle": post.handle, "date": post.date,
                "offset": _blank(post.offset), "time_unit": campaign.time_unit, "similarity": post.similarity,
                "p_wire": _blank(post.p_wire), "label": post.label, "techniques": post.techniques, "text": post.text,
            }


def summary_rows(result: CampaignSet) -> Iterator[dict]:
    """One row per campaign (``<stem>.campaign_summary.csv``)."""
    for c in result.campaigns:
        yield {
            "campaign": c.id, "kind": c.kind, "posts": len(c.posts), "accounts": c.accounts, "texts": c.texts,
            "first": c.first, "last": c.last, "time_unit": c.time_unit, "span": _blank(c.span),
            "median_gap": _blank(c.median_gap), "fast_pairs": _blank(c.fast_pairs),
            "median_p_wire": _blank(c.median_p_wire), "top_techniques": c.top_techniques,
            "url_share": c.url_share, "text": c.text,
        }


def _blank(value) -> object:
    return "" if value is None else value


# ---------------------------------------------------------------- the account network


@dataclass
class Network:
    """Accounts that share campaigns: nodes (account key -> attributes) and edges
    ``(source, target) -> weight, campaigns, first, last``.  Campaigns left out (share
    templates, and those with more than ``max_accounts`` accounts) are listed."""

    nodes: dict[str, dict] = field(default_factory=dict)
    edges: dict[tuple[str, str], dict] = field(default_factory=dict)
    left_out: list[str] = field(default_factory=list)

    def edge_rows(self) -> list[dict]:
        return [
            {"source": s, "target": t, "weight": e["weight"], "campaigns": " ".join(e["campaigns"]),
             "first": e["first"][1] if e["first"] else "", "last": e["last"][1] if e["last"] else ""}
            for (s, t), e in sorted(self.edges.items())
        ]


def account_network(result: CampaignSet, max_accounts: int = NETWORK_MAX_ACCOUNTS) -> Network:
    """The coordination network: an edge between two accounts weighted by the campaigns
    (not share templates) they both posted in, with the first and last of their posts in
    those campaigns."""
    network = Network()
    for campaign in result.campaigns:
        if campaign.kind == "share_template" or campaign.accounts > max_accounts:
            network.left_out.append(campaign.id)
            continue
        spans = _account_spans(campaign)
        for key, (first, last, posts, p_sum, p_count, account, handle) in spans.items():
            node = network.nodes.setdefault(key, {"label": handle and f"@{handle}" or account, "account": account,
                                                  "handle": handle, "campaigns": 0, "posts": 0,
                                                  "_p_sum": 0.0, "_p_count": 0})
            node["campaigns"] += 1
            node["posts"] += posts
            node["_p_sum"] += p_sum
            node["_p_count"] += p_count
        for a, b in combinations(sorted(spans), 2):
            edge = network.edges.setdefault((a, b), {"weight": 0, "campaigns": [], "first": None, "last": None})
            edge["weight"] += 1
            edge["campaigns"].append(campaign.id)
            edge["first"] = _pick(edge["first"], _pick(spans[a][0], spans[b][0]))
            edge["last"] = _pick(edge["last"], _pick(spans[a][1], spans[b][1], max), max)
    for node in network.nodes.values():
        count = node.pop("_p_count")
        total = node.pop("_p_sum")
        node["mean_p_wire"] = round(total / count, 4) if count else ""
    return network


def _account_spans(campaign: Campaign) -> dict[str, list]:
    """Per account of a campaign: [first, last, posts, p_wire sum, p_wire count, display
    name, handle], first and last as (time, date) of its dated posts (None if none is)."""
    spans: dict[str, list] = {}
    for post in campaign.posts:
        key = post.handle or post.account
        entry = spans.setdefault(key, [None, None, 0, 0.0, 0, post.account, post.handle])
        entry[2] += 1
        if post.p_wire is not None:
            entry[3] += post.p_wire
            entry[4] += 1
        if post.date:
            moment = (parse_time(post.date)[0], post.date)
            entry[0] = moment if entry[0] is None else min(entry[0], moment)
            entry[1] = moment if entry[1] is None else max(entry[1], moment)
    return spans


def _pick(a: tuple | None, b: tuple | None, pick=min) -> tuple | None:
    return b if a is None else a if b is None else pick(a, b)


def gexf_bytes(network: Network) -> bytes:
    """The network as GEXF 1.3 (nodes: accounts; edges weighted by shared campaigns)."""
    import networkx as nx

    graph = nx.Graph()
    for key, node in sorted(network.nodes.items()):
        graph.add_node(key, **node)
    for row in network.edge_rows():
        graph.add_edge(row["source"], row["target"], weight=row["weight"], campaigns=row["campaigns"],
                       first=row["first"], last=row["last"])
    buffer = io.BytesIO()
    nx.write_gexf(graph, buffer, version="1.3")
    return buffer.getvalue()


# ---------------------------------------------------------------- writing


def csv_text(rows: Iterable[dict], columns: tuple[str, ...], *, excel_safe: bool = False) -> str:
    """Rows as CSV with a header; ``excel_safe``: text a spreadsheet would run as a
    formula quoted (:func:`classifier.outputs.excel_safe_cell`)."""
    buffer = io.StringIO()
    _write_rows(buffer, rows, columns, excel_safe=excel_safe)
    return buffer.getvalue()


def write_csv(outputs: OutputSet, path: Path, rows: Iterable[dict], columns: tuple[str, ...], *,
              excel_safe: bool = False) -> Path:
    """Rows as a CSV file staged in ``outputs``, the same bytes :func:`csv_text` makes,
    written as the rows come (a run's campaign rows can be hundreds of megabytes of text)."""
    with outputs.open(path, "w", newline="") as handle:
        _write_rows(handle, rows, columns, excel_safe=excel_safe)
    return Path(path)


def _write_rows(handle, rows: Iterable[dict], columns: tuple[str, ...], *, excel_safe: bool) -> None:
    writer = csv.DictWriter(handle, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    if excel_safe:
        rows = ({name: excel_safe_cell(value) for name, value in row.items()} for row in rows)
    writer.writerows(rows)


def campaign_paths(stem_of: str | Path, folder: str | Path | None = None) -> tuple[Path, Path]:
    """``<stem>.campaigns.csv`` and ``<stem>.campaign_summary.csv`` for a scores file
    (beside it, or in ``folder``), named by :func:`classifier.outputs.scores_stem`."""
    return derived_path(stem_of, ".campaigns.csv", folder), derived_path(stem_of, ".campaign_summary.csv", folder)


def write_campaign_csvs(outputs: OutputSet, result: CampaignSet, campaigns_path: Path, summary_path: Path, *,
                        excel_safe: bool = False) -> list[Path]:
    """The two campaign CSVs, staged in ``outputs`` (put in place with the rest of a
    run's outputs, or not at all); ``excel_safe`` as for :func:`csv_text`."""
    return [
        write_csv(outputs, campaigns_path, campaign_rows(result), CAMPAIGN_COLUMNS, excel_safe=excel_safe),
        write_csv(outputs, summary_path, summary_rows(result), SUMMARY_COLUMNS, excel_safe=excel_safe),
    ]


@dataclass
class CampaignRun:
    """What :func:`campaigns_from_scores` found and wrote."""

    result: CampaignSet
    rows: int
    written: list[Path]
    network: Network


def campaigns_from_scores(
    scores: str | Path,
    output_dir: str | Path,
    params: CampaignParams | None = None,
    *,
    network_max_accounts: int = NETWORK_MAX_ACCOUNTS,
    force: bool = False,
    excel_safe: bool = False,
) -> CampaignRun:
    """Rerun campaign detection on a scores file and write, into ``output_dir``, all or none:
    ``<stem>.campaigns.csv``, ``<stem>.campaign_summary.csv``, ``coordination.gexf``,
    ``coordination_edges.csv`` and ``manifest.json`` (parameters, the input's SHA-256,
    counts, versions).  Existing files are replaced only with ``force``; ``excel_safe``
    quotes CSV cells a spreadsheet would run as formulas."""
    scores = Path(scores)
    output_dir = Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise OutputError(f"{output_dir}: not a folder; -o takes the folder the campaign files go into")
    campaigns_path, summary_path = campaign_paths(scores, output_dir)
    paths = [campaigns_path, summary_path, output_dir / GEXF, output_dir / EDGES, output_dir / MANIFEST]
    for path in paths:
        check_output_path(path, inputs=[scores], protected=["labels"], force=force)
    params = params or CampaignParams()
    give_back_large_blocks()  # this run is campaign matching from the start
    result, rows = find_in_scores(scores, params)
    network = account_network(result, network_max_accounts)
    with all_or_none() as outputs:
        written = write_campaign_csvs(outputs, result, campaigns_path, summary_path, excel_safe=excel_safe)
        written.append(outputs.write_bytes(output_dir / GEXF, gexf_bytes(network)))
        written.append(write_csv(outputs, output_dir / EDGES, network.edge_rows(), EDGE_COLUMNS, excel_safe=excel_safe))
        written.append(outputs.write_text(output_dir / MANIFEST, json.dumps(
            manifest(scores, result, rows, network, network_max_accounts, [p.name for p in paths]),
            ensure_ascii=False, indent=2) + "\n"))
    return CampaignRun(result, rows, written, network)


def manifest(scores: Path, result: CampaignSet, rows: int, network: Network, network_max_accounts: int,
             outputs: list[str]) -> dict:
    """What a rerun needs to be repeated and checked: parameters, the input and its
    SHA-256, counts, and the versions that computed it."""
    from importlib.metadata import PackageNotFoundError, version

    def package(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return ""

    return {
        "command": "postcred campaigns",
        "input": {"path": str(scores), "sha256": _sha256(scores), "rows": rows},
        "parameters": {**result.params.to_dict(), "network_max_accounts": network_max_accounts},
        "time_resolution": result.time_resolution,
        "counts": result.counts,
        "network": {"accounts": len(network.nodes), "edges": len(network.edges),
                    "campaigns_left_out": network.left_out},
        "outputs": outputs,
        "versions": {"postcred": package("postcred"), "python": sys.version.split()[0], "numpy": package("numpy"),
                     "scipy": package("scipy"), "networkx": package("networkx")},
    }


def _sha256(path: Path) -> str:
    """SHA-256 of a file, or of a folder's part files in order."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.glob("part-*")) if path.is_dir() else [path]
    for file in files:
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()
