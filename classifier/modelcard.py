"""The model card: what the model was trained on, how well it carries over, and its limits.

Written by ``postcred train`` to ``model-card.md`` and ``model-card.html``; the figures come
from the metadata saved beside the model, the charts are inline SVG made with matplotlib.
"""

from __future__ import annotations

import io

import numpy as np
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from .report import environment

CARD_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
CV_TITLES = {
    "stratified": "stratified k-fold",
    "topic_out": "leave-one-topic-out",
    "source_out": "leave-one-source-out",
    "real_out": "real texts (seed dump) held out, trained on the written set",
    "topic_out_markers_on": "leave-one-topic-out, with marker features",
    "topic_out_markers_off": "leave-one-topic-out, without marker features",
}


def _svg(fig) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def learning_curve_svg(curve: list[dict]) -> str:
    """Learning curve (leave-one-topic-out macro-F1 against training share) as SVG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 3))
    ax.plot([100 * r["fraction"] for r in curve], [r["macro_f1"] for r in curve], marker="o")
    ax.set_xlabel("share of the training folds used (%)")
    ax.set_ylabel("topic-out macro-F1")
    ax.set_ylim(0.5, 1.0)
    ax.grid(alpha=0.3)
    svg = _svg(fig)
    plt.close(fig)
    return svg


def reliability_svg(y_wire: np.ndarray, p_wire: np.ndarray, bins: int = 10) -> str:
    """Reliability diagram of out-of-fold p_wire as SVG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .evaluate import reliability_table

    table = [r for r in reliability_table(y_wire, p_wire, bins) if r["count"]]
    fig, ax = plt.subplots(figsize=(4.5, 3))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    ax.plot([r["mean_p"] for r in table], [r["share_wire"] for r in table], marker="o")
    ax.set_xlabel("mean predicted p_wire")
    ax.set_ylabel("observed share of wire")
    ax.grid(alpha=0.3)
    svg = _svg(fig)
    plt.close(fig)
    return svg


def card_context(metadata: dict, *, oof=None, y=None) -> dict:
    """Everything the card templates need, as plain data."""
    cv = [
        {"name": key, "title": CV_TITLES.get(key, key), **value}
        for key, value in metadata.get("cv", {}).items()
    ]
    # The charts are markup this module draws from numbers, never from label or post text.
    charts = {}
    if metadata.get("learning_curve"):
        charts["learning_curve"] = Markup(learning_curve_svg(metadata["learning_curve"]))
    if oof is not None and y is not None:
        charts["reliability"] = Markup(reliability_svg((np.asarray(y) == "wire").astype(int), np.asarray(oof)))
    params = metadata.get("params", {})
    search = [
        {**t, "score": t.get("score", t["macro_f1"]), "changed": _changed_params(t["params"], params)}
        for t in metadata.get("search", [])
    ]
    search.sort(key=lambda t: -t["score"])
    return {"meta": metadata, "cv": cv, "charts": charts, "search": search,
            "params_note": params_note(metadata), "by_source": metadata.get("source_recall", [])}


def _changed_params(params: dict, chosen: dict) -> str:
    """A trial's setting as its differences from the chosen one (``chosen`` when none)."""
    diff = [f"{k}={params[k]}" for k in params if chosen.get(k) != params[k]]
    return ", ".join(diff) or "chosen"


def params_note(metadata: dict) -> str:
    """One sentence saying where the hyper-parameters come from: this run's search, or a
    search of an earlier run whose setting was kept (``--no-search``)."""
    info = metadata.get("search_info") or {}
    settings = info.get("settings", len(metadata.get("search", [])))
    criterion = info.get("criterion", "leave-one-topic-out macro-F1")
    if info.get("ran", bool(metadata.get("search"))):
        seconds = info.get("seconds")
        took = f" in {seconds / 60:.0f} minutes" if seconds else ""
        return f"chosen by a search over {settings} settings{took}, by the {criterion}"
    reason = info.get("reason", "no search was run")
    if not settings:
        return f"not searched: {reason}"
    when = f" on {info['date'][:10]}" if info.get("date") else ""
    on = f" for {info['n_labels']} labels" if info.get("n_labels") else ""
    return (f"not searched in this run ({reason}); they come from the search of an earlier run{when}{on}, "
            f"over {settings} settings, listed below")


CARD_FILES = ("model-card.md", "model-card.html")


def render_model_card(metadata: dict, *, oof=None, y=None) -> dict[str, str]:
    """The model card as ``{file name: text}`` (Markdown and HTML), rendered in memory so
    that training can write it together with the model (see
    :func:`classifier.training.save_model_and_card`)."""
    context = card_context(metadata, oof=oof, y=y)
    markdown = Environment(loader=PackageLoader("classifier", "templates"), autoescape=False,
                           undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    html = environment()
    for env in (markdown, html):
        env.globals["zip"] = zip
    return {
        CARD_FILES[0]: markdown.get_template("model_card.md").render(**context),
        CARD_FILES[1]: html.get_template("model_card.html").render(**context, csp=CARD_CSP),
    }

