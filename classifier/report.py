"""The HTML report: one self-contained file a reviewer can work in.

Python prepares plain data: the summary tables, the chart geometry (inline SVG) and the
segments as compact JSON.  The Jinja2 templates only loop and format, with autoescape on.
The segments are embedded as JSON in a ``<script type="application/json">`` block and drawn
by the report's own inline script (``templates/report.js``), which builds every node with
``createElement``/``textContent``, so post text can never become markup.  The page's
Content Security Policy allows nothing but that one script and one style sheet (by their
SHA-256), and ``data:`` images: no network, no other script.

The script filters, searches, sorts and pages the segments (so a 50,000-segment report
stays usable), groups them by post, highlights the model's evidence and the propaganda
markers, and runs the review mode: decisions kept in ``localStorage`` per dump and segment
(:func:`review_namespace`), exported as ``corrections.jsonl`` for ``postcred review merge``.

The page is assembled from a registry: :data:`SECTIONS` (each a template partial with its
navigation entry) and :data:`SCRIPTS` (the core script first, then any view's own script),
so a new view is a partial and a script added to these lists; the policy allows every
listed script by its hash.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
from array import array
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from jinja2.bccache import Bucket, FileSystemBytecodeCache
from markupsafe import Markup

from .accounts import AccountTables
from .campaigns_view import campaign_view
from .outputs import OutputSet, all_or_none
from .report_accounts import accounts_payload, tables_of_records
from .report_rows import JSON_DUMPS_KWARGS, ROW_COLUMNS, ReportEntry, report_entry, row_json
from .scored import ScoredSegment
from .spill import REPORT, SpillFile
from .summary import UNKNOWN_ACCOUNT, summarize

if TYPE_CHECKING:
    from .campaigns import CampaignSet

#: Evidence features highlighted in each direction by default (the report's "all evidence"
#: switch shows the rest): on the seed the 3 strongest each way carry 53% of a segment's
#: total |weight| (5 each way: 66%), and six spans stay readable where sixteen do not.
EVIDENCE_HIGHLIGHTED = 3
#: Rows per JSON block of the page: the rows are serialized (and written) a block at a time.
ROWS_PER_BLOCK = 2000
#: Accounts drawn as their own histogram row; the rest are pooled as "other accounts".
HISTOGRAM_ACCOUNTS = 8
HISTOGRAM_BINS = 10
#: The report's sections in page order: (anchor id, navigation title, template partial).
SECTIONS = (
    ("overview", "Overview", "_report_overview.html"),
    ("charts", "Charts", "_report_charts.html"),
    ("accounts", "Accounts", "_report_accounts.html"),
    ("campaigns", "Campaigns", "_report_campaigns.html"),
    ("review", "Segments and review", "_report_review.html"),
)
#: The report's scripts in page order: the core (data, segment list, review mode) first,
#: then the views' own scripts, which register with the core (see ``report.js``).
SCRIPTS = ("report.js", "report_accounts.js", "campaigns.js")
OTHER_ACCOUNTS = "(other accounts)"


def environment() -> Environment:
    """The Jinja2 environment: package templates, autoescape on, undefined names fail.

    ``tojson`` writes compact UTF-8 JSON (Japanese stays readable and small) and, as
    always in Jinja, escapes ``<``, ``>``, ``&`` and ``'`` so that no text can close the
    ``<script>`` element it is embedded in.
    """
    env = Environment(
        loader=PackageLoader("classifier", "templates"),
        bytecode_cache=_template_cache(),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.policies["json.dumps_kwargs"] = JSON_DUMPS_KWARGS
    env.filters["pct"] = lambda value: f"{100 * float(value):.0f}%"
    env.filters["signed"] = lambda value: f"{float(value):+.2f}"
    env.filters["num"] = lambda value: f"{int(value):,}"
    env.filters["isolate"] = isolate
    return env


class _QuietBytecodeCache(FileSystemBytecodeCache):
    """Jinja's cache of compiled templates (each run would otherwise compile the report's
    templates again, about 40 ms of a small run), in a folder of the user's own that Jinja
    checks (``_jinja2-cache-<uid>`` in the temporary folder, mode 0700, not a link).  Jinja
    compares each template's source with the one cached, so an edited template is
    compiled again.  A cache that cannot be read or written (a full disk, a read-only or
    damaged file) is a cache miss, never an error of the run."""

    def load_bytecode(self, bucket: Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except Exception:  # whatever a damaged file makes the unpickling raise: compile again
            bucket.reset()

    def dump_bytecode(self, bucket: Bucket) -> None:
        with contextlib.suppress(OSError):
            super().dump_bytecode(bucket)


def _template_cache() -> FileSystemBytecodeCache | None:
    """The cache of compiled templates, or None when no safe folder for it exists."""
    try:
        return _QuietBytecodeCache()
    except (OSError, RuntimeError):
        return None


def isolate(text: object) -> str:
    """User text wrapped in Unicode's first-strong isolate (U+2068 ... U+2069), for places
    markup cannot isolate (tooltips, the page title): a right-to-left override in a display
    name then cannot reverse the text around it."""
    return f"\u2068{text}\u2069"


@lru_cache(maxsize=None)
def asset(name: str) -> str:
    """The text of a static asset shipped beside the templates (the script, the style)."""
    env = environment()
    source, _, _ = env.loader.get_source(env, name)
    return source


def csp_hash(source: str) -> str:
    """The CSP source expression allowing exactly this inline script or style."""
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def content_security_policy(scripts: str | Iterable[str], style: str) -> str:
    """Nothing but the report's own scripts (each by its hash) and style, and ``data:`` images.

    ``frame-ancestors`` is left out: browsers ignore it in a ``<meta>`` policy and say so
    on the console.
    """
    if isinstance(scripts, str):
        scripts = [scripts]
    allowed = " ".join(dict.fromkeys(csp_hash(script) for script in scripts))
    return (
        f"default-src 'none'; script-src {allowed}; style-src {csp_hash(style)}; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )


def model_hash(model_meta: dict | None) -> str:
    """A short fingerprint of the model that scored the rows: the SHA-256 of its model file
    (``sha256``, which :func:`~classifier.model.load_model` sets from the bytes it loaded),
    else its metadata hashed (a model built in memory)."""
    if not model_meta:
        return ""
    if isinstance(model_meta.get("sha256"), str) and model_meta["sha256"]:
        return model_meta["sha256"][:16]
    canonical = json.dumps(model_meta, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def report_id(rows: "Iterable[ScoredSegment] | ReportRows", model_digest: str) -> str:
    """A stable id for a report: the same dump scored by the same model gives the same id.
    Exported corrections carry it as provenance; review decisions are kept by dump and
    segment instead (:func:`review_namespace`), so that a retrained model's report of the
    same dump keeps them.  Takes scored records or their compact form (the same id either way)."""
    h = hashlib.sha256(model_digest.encode())
    if isinstance(rows, ReportRows):
        for block in rows.identity_blocks():
            h.update(block)
        return h.hexdigest()[:16]
    for record in rows:
        h.update(record.id.encode())
        h.update(b"\0")
        h.update(record.text.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def segment_dump(segment_id: str) -> str:
    """The dump part of a segment id (``<dump>:<line>``); empty for an id without one."""
    return segment_id.rpartition(":")[0]


def review_namespace(rows: "ReportRows") -> tuple[str, str]:
    """Where the browser keeps a report's review decisions: ``(key, id_prefix)``.

    Every ``file://`` report shares one ``localStorage`` of about 5 M characters, and a
    retrained model re-scoring the same dump must find the reviewer's decisions again, so
    decisions are keyed by dump and segment, not by model: ``key`` is a short hash of the
    dump's name, and each decision is stored under its segment id less ``id_prefix`` (the
    ``<dump>:`` every id starts with) and a hash of the segment's text (the script adds
    that), so an edited dump never shows a decision on a text the reviewer did not see.
    Rows of several dumps share one namespace and keep their full ids.
    """
    dumps = {segment_dump(segment_id) for segment_id in rows.ids}
    prefix = f"{dumps.pop()}:" if len(dumps) == 1 and "" not in dumps else ""
    return hashlib.sha256(f"postcred-review\0{prefix}".encode()).hexdigest()[:8], prefix


def label_topics(model_meta: dict) -> list[str]:
    """The topics of the labels the model was trained on (the report's topic suggestions)."""
    by_topic = (model_meta.get("data") or {}).get("by_topic") or {}
    return sorted(str(topic) for topic in by_topic) if isinstance(by_topic, dict) else []


def histograms(rows: "ReportRows", summary: dict, bins: int = HISTOGRAM_BINS) -> list[dict]:
    """p_wire histograms, one per large account (the rest pooled), for the SVG chart.

    Each bar carries its count and its height as a fraction of that account's tallest bin.
    """
    named = [a["account"] for a in summary["accounts"][:HISTOGRAM_ACCOUNTS]]
    # Two accounts may share a name with different handles; the chart groups by name.
    named = list(dict.fromkeys(named))
    counts: dict[str, list[int]] = {name: [0] * bins for name in named}
    pooled = [0] * bins
    for account, p_wire in zip(rows.accounts, rows.p_wires):
        b = min(int(p_wire * bins), bins - 1)
        name = account or UNKNOWN_ACCOUNT
        (counts[name] if name in counts else pooled)[b] += 1
    series = [(name, counts[name]) for name in named]
    if any(pooled):
        series.append((OTHER_ACCOUNTS, pooled))
    out = []
    for name, values in series:
        top = max(values) or 1
        out.append({
            "account": name,
            "total": sum(values),
            "bins": [
                {"count": v, "height": v / top, "low": i / bins, "high": (i + 1) / bins}
                for i, v in enumerate(values)
            ],
        })
    return out


class ReportRows:
    """The segments a report lists, waiting on disk in the form the page embeds them, with
    the little the rest of the page reads of them kept in memory.

    Each row comes as its :class:`~classifier.report_rows.ReportEntry`, made where its
    segment was scored: its compact form (:func:`~classifier.report_rows.compact_row`) as
    the JSON the page embeds, which goes to a temporary file
    (:class:`~classifier.spill.SpillFile`, in ``folder``: the run's output folder, or the
    system's temporary folder): 50,000 rows with their evidence took about 180 MB as
    Python objects, and a scoring run held them (pickled) from the first chunk to its end.
    Kept in memory per row: its id, account, p_wire, role, marker ids and strongest
    evidence weight, for the page's summaries, charts, menus and campaign links; its id
    and text go to a second temporary file, for :func:`report_id`.  Rows are added one
    record at a time (:meth:`add`); :meth:`blocks` reads them back :data:`ROWS_PER_BLOCK`
    at a time, and iterating gives the rows again.
    """

    #: Bytes of rows gathered before they are appended to the file (one write, not one a row).
    FLUSH_BYTES = 1 << 20

    def __init__(self, records: Iterable[ScoredSegment] = (), *, folder: str | Path | None = None) -> None:
        self.folder = folder
        self.ids: list[str] = []
        self.accounts: list[str] = []
        self.p_wires = array("d")
        self.roles: set[str] = set()
        self.markers: set[str] = set()
        self.peaks = array("d")
        self._ends = array("q")  # where each row's JSON ends in the rows file (a comma after it)
        self._size = 0
        self._rows: SpillFile | None = None
        self._identity: SpillFile | None = None
        self._pending: list[bytes] = []
        self._pending_identity: list[bytes] = []
        self._pending_size = 0
        self._closed = False
        self._strings: dict[str, str] = {}
        for record in records:
            self.add(record)

    def _share(self, text: str) -> str:
        return self._strings.setdefault(text, text)

    def add(self, record: ScoredSegment) -> None:
        """Add one scored segment."""
        self.add_entry(report_entry(record))

    def add_entry(self, entry: ReportEntry) -> None:
        """Add one segment made into its entry where it was scored (:func:`report_entries`)."""
        data = entry.row + b","
        self._pending.append(data)
        self._pending_identity.append(entry.identity)
        self._pending_size += len(data) + len(entry.identity)
        self._size += len(data)
        self._ends.append(self._size)
        self.ids.append(entry.id)
        self.accounts.append(self._share(entry.account))
        self.p_wires.append(entry.p_wire)
        self.roles.add(entry.role)
        self.markers.update(entry.markers)
        self.peaks.append(entry.peak)
        if self._pending_size >= self.FLUSH_BYTES:
            self._flush()

    def _flush(self) -> None:
        """Append the gathered rows (and their ids and texts) to the temporary files."""
        if self._closed:
            raise ValueError("the report's rows were closed (their temporary files are gone)")
        if not self._pending:
            return
        if self._rows is None:
            self._rows = SpillFile(self.folder, "report-rows", REPORT)
            self._identity = SpillFile(self.folder, "report-ids", REPORT)
        self._rows.append(b"".join(self._pending))
        self._identity.append(b"".join(self._pending_identity))
        self._pending, self._pending_identity, self._pending_size = [], [], 0

    def blocks(self, size: int | None = None) -> Iterator[Markup]:
        """The rows as the page embeds them: JSON arrays of ``size`` rows each
        (:data:`ROWS_PER_BLOCK` by default), escaped so that no text closes the
        ``<script>`` element around it (as Jinja's ``tojson``)."""
        size = size or ROWS_PER_BLOCK
        self._flush()
        done = 0
        for k in range(0, len(self), size):
            last = self._ends[min(k + size, len(self)) - 1]
            text = self._rows.read(done, last - done - 1).decode("utf-8")  # without the comma after the last row
            done = last
            yield Markup(f"[{text}]")

    def identity_blocks(self, size: int = 1 << 20) -> Iterator[bytes]:
        """Each row's id and text, each followed by a NUL byte, end to end, in blocks."""
        self._flush()
        if self._identity is None:
            return
        for start in range(0, self._identity.size, size):
            yield self._identity.read(start, min(size, self._identity.size - start))

    def __iter__(self) -> Iterator[list]:
        """The rows again, as the page's script reads them (JSON arrays become lists)."""
        for block in self.blocks():
            yield from json.loads(block)

    def __len__(self) -> int:
        return len(self._ends)

    def __enter__(self) -> "ReportRows":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Remove the temporary files."""
        for spill in (self._rows, self._identity):
            if spill is not None:
                spill.close()
        self._rows = self._identity = None
        self._pending, self._pending_identity, self._pending_size = [], [], 0
        self._closed = True


def json_pieces(view: dict, key: str, items_per_piece: int = 100, *, encoded: bool = False) -> Iterator[Markup]:
    """``view|tojson`` in pieces, the list at ``key`` ``items_per_piece`` items at a time:
    the same bytes as ``tojson`` writes, without a string that holds all of a large view
    (the Accounts view of a year-long dump runs to tens of megabytes, and the escaping
    would copy it again).  ``encoded``: the list's items are already :func:`row_json`
    text."""
    encode = str if encoded else row_json
    yield Markup("{")
    for k, (name, value) in enumerate(view.items()):
        yield Markup(("," if k else "") + row_json(name) + ":")
        if name != key:
            yield Markup(row_json(value))
            continue
        yield Markup("[")
        for start in range(0, len(value), items_per_piece):
            piece = ",".join(map(encode, value[start:start + items_per_piece]))
            yield Markup(("," if start else "") + piece)
        yield Markup("]")
    yield Markup("}")


def evidence_scale(rows: ReportRows) -> float:
    """The |weight| that gets full highlight intensity: the 90th percentile of each
    segment's strongest evidence, so intensities compare across segments and one extreme
    segment does not wash out the rest."""
    peaks = sorted(p for p in rows.peaks if p > 0)
    if not peaks:
        return 1.0
    return round(peaks[min(len(peaks) - 1, int(0.9 * len(peaks)))], 4)


def filter_options(rows: ReportRows, summary: dict) -> dict:
    """The choices of the report's filter menus."""
    roles = sorted(rows.roles - {""})
    markers = sorted(rows.markers)
    return {
        "accounts": sorted({a["account"] for a in summary["accounts"]}),
        "roles": roles,
        "techniques": [t["technique"] for t in summary["techniques"]],
        "markers": markers,
    }


def _prepared(rows: Iterable[ScoredSegment] | ReportRows, summary: dict | None,
              accounts: AccountTables | None) -> tuple[ReportRows, dict, AccountTables | None]:
    """Rows in their compact form, the summary and the account tables (computed from the
    records when not given; compact rows without tables get no Accounts view)."""
    if isinstance(rows, ReportRows):
        if summary is None:
            raise ValueError("compact rows need the summary of the run that scored them")
        return rows, summary, accounts
    records = list(rows)
    return ReportRows(records), summary or summarize(records), accounts or tables_of_records(records)


def render_report(rows: Iterable[ScoredSegment] | ReportRows, **options) -> str:
    """The report HTML as one string (options as for :func:`report_chunks`)."""
    return "".join(report_chunks(rows, **options))


def write_report(path: str | Path, rows: Iterable[ScoredSegment] | ReportRows, *, outputs: OutputSet | None = None,
                 **options) -> Path:
    """Write the report atomically, piece by piece as it renders (options as for
    :func:`report_chunks`); returns its path.  With ``outputs`` (a run's
    :func:`~classifier.outputs.all_or_none` set) it is staged there, and put in place
    with the run's other outputs."""
    path = Path(path)
    with contextlib.ExitStack() as stack:
        if outputs is None:
            outputs = stack.enter_context(all_or_none())
        handle = outputs.open(path, "w")
        for chunk in report_chunks(rows, **options):
            handle.write(chunk)
    return path


def report_chunks(
    rows: Iterable[ScoredSegment] | ReportRows,
    *,
    title: str,
    summary: dict | None = None,
    model_meta: dict | None = None,
    run: dict | None = None,
    page_size: int = 50,
    campaigns: CampaignSet | None = None,
    accounts: AccountTables | None = None,
) -> Iterator[str]:
    """The report HTML for scored records (as made by :mod:`classifier.scoring`), piece by
    piece (Jinja's ``generate``): a large report is written as it renders, and its rows are
    serialized :data:`ROWS_PER_BLOCK` at a time into JSON blocks of their own, so no single
    string holds all of them.

    Parameters
    ----------
    rows:
        Scored records (:class:`~classifier.scored.ScoredSegment`), or rows already in
        their compact form (:class:`ReportRows`), with ``summary``.
    title:
        Usually the dump's file name.
    summary:
        Precomputed :func:`summarize` output (computed from ``rows`` when None).
    model_meta:
        The model's metadata (``postcred.json``); its hash goes into the report id and
        into every exported correction.
    run:
        Records read, scored and rejected, shown in the header.
    page_size:
        Segments per page when the report opens.
    campaigns:
        The run's campaigns, for the Campaigns view (None: the run did not look for
        them, and the view says so).
    accounts:
        The run's account tables (:class:`~classifier.accounts.AccountTables`), drawn by
        the Accounts view; computed from ``rows`` when they are records.
    """
    owned = not isinstance(rows, ReportRows)
    rows, summary, accounts = _prepared(rows, summary, accounts)
    try:
        yield from _page(rows, summary, accounts, title=title, model_meta=model_meta or {}, run=run,
                         page_size=page_size, campaigns=campaigns)
    finally:
        if owned:  # rows made here from records: their temporary files go now
            rows.close()


def _page(rows: ReportRows, summary: dict, accounts: AccountTables | None, *, title: str, model_meta: dict,
          run: dict | None, page_size: int, campaigns: CampaignSet | None) -> Iterator[str]:
    """:func:`report_chunks` once the rows are in their compact form."""
    scripts, style = [asset(name) for name in SCRIPTS], asset("report.css")
    m_hash = model_hash(model_meta)
    rid = report_id(rows, m_hash or model_meta.get("labels_digest", ""))
    review_key, id_prefix = review_namespace(rows)
    topics = label_topics(model_meta)
    payload = {
        "report_id": rid,
        "model_hash": m_hash,
        "review_key": review_key,
        "id_prefix": id_prefix,
        "title": title,
        "page_size": page_size,
        "evidence_scale": evidence_scale(rows),
        "evidence_top": EVIDENCE_HIGHLIGHTED,
        "columns": list(ROW_COLUMNS),
    }
    accounts_view = accounts_payload(accounts, encode=row_json) if accounts is not None else None
    campaigns_data = campaign_view(campaigns, rows.ids)
    template = environment().get_template("report.html")
    yield from template.generate(
        title=title,
        csp=content_security_policy(scripts, style),
        # Our own code, not data: inserted verbatim so its hash matches the policy.
        scripts=[Markup(script) for script in scripts],
        style=Markup(style),
        sections=[{"id": anchor, "title": name, "template": partial} for anchor, name, partial in SECTIONS],
        topics=topics,
        payload=payload,
        row_chunks=rows.blocks(),
        summary=summary,
        histograms=histograms(rows, summary),
        accounts_view=accounts_view,
        accounts_json=json_pieces(accounts_view, "accounts", encoded=True) if accounts_view is not None else (),
        accounts_note=accounts.note() if accounts is not None else "",
        options=filter_options(rows, summary),
        run=run or {},
        campaigns=campaigns_data,
        campaigns_json=json_pieces(campaigns_data, "campaigns") if campaigns_data is not None else (),
        model={
            "hash": m_hash,
            "digest": model_meta.get("labels_digest", "")[:12],
            "created": model_meta.get("created", ""),
        },
        report_id=rid,
        generated=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )

