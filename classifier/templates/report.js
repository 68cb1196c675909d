/* postcred report: filters, search, sort, pages, post view, evidence and review mode.
 *
 * Post text is untrusted.  This script reads it from the JSON block and only ever puts it
 * into the page with textContent / createElement / setAttribute; it never builds HTML
 * from strings.  Review decisions live in localStorage under the report id.
 */
(function () {
  "use strict";

  var DATA = JSON.parse(document.getElementById("report-data").textContent);
  // The rows come in blocks of a few thousand (so the page is written, and parsed, a
  // block at a time), in order.
  DATA.rows = [];
  document.querySelectorAll("script.report-rows").forEach(function (block) {
    Array.prototype.push.apply(DATA.rows, JSON.parse(block.textContent));
  });
  var OTHER = { wire: "partisan", partisan: "wire" };
  var STATUS_ORDER = { "": 0, skip: 1, confirm: 2, correct: 3 };
  var collator = new Intl.Collator("ja");

  var ROWS = DATA.rows.map(function (values, index) {
    var row = { index: index };
    DATA.columns.forEach(function (name, i) { row[name] = values[i]; });
    return row;
  });
  DATA.rows = null;
  var BY_ID = new Map();
  var POSTS = new Map();
  ROWS.forEach(function (row) {
    BY_ID.set(row.id, row);
    if (!POSTS.has(row.post)) POSTS.set(row.post, []);
    POSTS.get(row.post).push(row);
  });

  function $(id) { return document.getElementById(id); }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (key) {
        if (attrs[key] === null || attrs[key] === undefined || attrs[key] === false) return;
        if (key === "className") node.className = attrs[key];
        else node.setAttribute(key, attrs[key] === true ? "" : String(attrs[key]));
      });
    }
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function accountName(row) { return row.account || "(unknown)"; }

  /* ------------------------------------------------------------ decisions */

  var store = {
    key: "postcred-review:" + DATA.report_id,
    items: {},
    persistent: true,
    load: function () {
      var parsed = {};
      try {
        var raw = window.localStorage.getItem(this.key);
        parsed = raw ? JSON.parse(raw) : {};
      } catch (err) {
        this.persistent = false;
        parsed = {};
      }
      this.items = {};
      if (parsed && typeof parsed === "object") {
        Object.keys(parsed).forEach(function (id) {
          var d = parsed[id];
          if (BY_ID.has(id) && d && typeof d === "object") store.items[id] = d;
        });
      }
    },
    save: function () {
      try {
        window.localStorage.setItem(this.key, JSON.stringify(this.items));
      } catch (err) {
        this.persistent = false;
      }
      $("storage-warning").hidden = this.persistent;
    },
    get: function (id) { return this.items[id] || null; },
    status: function (id) { var d = this.items[id]; return d && d.decision ? d.decision : ""; }
  };

  function now() { return new Date().toISOString(); }

  function decide(row, decision) {
    var d = store.get(row.id) || { decision: null, label: null, note: "" };
    if (d.decision === decision) {
      d.decision = null; // pressing the active button again undoes it
      d.label = null;
    } else {
      d.decision = decision;
      d.label = decision === "confirm" ? row.label : decision === "correct" ? OTHER[row.label] : null;
    }
    d.time = now();
    if (!d.decision && !d.note) delete store.items[row.id];
    else store.items[row.id] = d;
    store.save();
    refreshRow(row);
    updateProgress();
  }

  function setNote(row, note) {
    var d = store.get(row.id) || { decision: null, label: null, note: "" };
    d.note = note;
    d.time = now();
    if (!d.decision && !d.note) delete store.items[row.id];
    else store.items[row.id] = d;
    store.save();
    updateProgress();
  }

  function updateProgress() {
    var counts = { confirm: 0, correct: 0, skip: 0 };
    var notes = 0;
    Object.keys(store.items).forEach(function (id) {
      var d = store.items[id];
      if (d.decision) counts[d.decision] += 1;
      if (d.note) notes += 1;
    });
    var reviewed = counts.confirm + counts.correct + counts.skip;
    var progress = $("progress");
    progress.textContent = "Reviewed " + reviewed.toLocaleString() + " of " + ROWS.length.toLocaleString() +
      " segments: " + counts.confirm + " confirmed, " + counts.correct + " corrected, " + counts.skip +
      " skipped · " + notes + " notes";
    progress.setAttribute("data-reviewed", reviewed);
    progress.setAttribute("data-corrected", counts.correct);
    $("b-export").disabled = reviewed + notes === 0;
  }

  function exportCorrections() {
    var lines = [];
    ROWS.forEach(function (row) {
      var d = store.get(row.id);
      if (!d) return;
      lines.push(JSON.stringify({
        id: row.id,
        text: row.text,
        predicted_label: row.label,
        p_wire: row.p_wire,
        reviewer_label: d.label || null,
        decision: d.decision || null,
        note: d.note || "",
        time: d.time || null,
        report_id: DATA.report_id,
        model_hash: DATA.model_hash,
        account: row.account,
        role: row.role
      }));
    });
    if (!lines.length) return;
    var blob = new Blob([lines.join("\n") + "\n"], { type: "application/x-ndjson" });
    var link = el("a", { href: URL.createObjectURL(blob), download: "corrections.jsonl" });
    document.body.appendChild(link);
    link.click();
    setTimeout(function () { URL.revokeObjectURL(link.href); link.remove(); }, 2000);
  }

  /* ------------------------------------------------------------ filters */

  var state = {
    search: "", label: "", account: "", role: "", marker: "", pmin: 0, pmax: 1,
    status: "", sort: "line", desc: false, view: "segments", pageSize: DATA.page_size || 50,
    page: 0, post: ""
  };
  var hay = null; // normalized search text per row, built on the first search

  function normalize(text) { return String(text).normalize("NFKC").toLowerCase(); }

  function haystack(row) {
    if (!hay) hay = new Array(ROWS.length);
    var h = hay[row.index];
    if (h === undefined) {
      h = normalize(row.text + "\n" + row.account + "\n@" + row.handle + "\n" + row.id);
      hay[row.index] = h;
    }
    return h;
  }

  function matchesMarker(row) {
    var m = state.marker;
    if (!m) return true;
    if (m === "*") return row.markers.length > 0;
    if (m === "-") return row.markers.length === 0;
    if (m.slice(0, 2) === "t:") return row.techniques.indexOf(m.slice(2)) >= 0;
    if (m.slice(0, 2) === "m:") return row.markers.some(function (mk) { return mk[3] === m.slice(2); });
    return true;
  }

  function matchesStatus(row) {
    var s = state.status;
    if (!s) return true;
    var d = store.get(row.id);
    var decision = d && d.decision ? d.decision : "";
    if (s === "unreviewed") return !decision;
    if (s === "reviewed") return !!decision;
    if (s === "note") return !!(d && d.note);
    return decision === s;
  }

  function matches(row, terms) {
    if (state.post && row.post !== state.post) return false;
    if (state.label && row.label !== state.label) return false;
    if (state.account && accountName(row) !== state.account) return false;
    if (state.role && row.role !== state.role) return false;
    if (row.p_wire < state.pmin || row.p_wire > state.pmax) return false;
    if (!matchesMarker(row) || !matchesStatus(row)) return false;
    if (terms.length) {
      var h = haystack(row);
      for (var i = 0; i < terms.length; i++) if (h.indexOf(terms[i]) < 0) return false;
    }
    return true;
  }

  var SORT_KEYS = {
    line: function (a, b) { return a.index - b.index; },
    queue: function (a, b) { return Math.abs(a.p_wire - 0.5) - Math.abs(b.p_wire - 0.5); },
    p_wire: function (a, b) { return a.p_wire - b.p_wire; },
    account: function (a, b) { return collator.compare(accountName(a), accountName(b)); },
    role: function (a, b) { return collator.compare(a.role, b.role); },
    label: function (a, b) { return collator.compare(a.label, b.label); },
    text: function (a, b) { return collator.compare(a.text, b.text); },
    markers: function (a, b) { return a.markers.length - b.markers.length; },
    status: function (a, b) { return STATUS_ORDER[store.status(a.id)] - STATUS_ORDER[store.status(b.id)]; }
  };

  function selection() {
    var terms = normalize(state.search).split(/\s+/).filter(Boolean);
    var out = ROWS.filter(function (row) { return matches(row, terms); });
    var compare = SORT_KEYS[state.sort] || SORT_KEYS.line;
    var sign = state.desc ? -1 : 1;
    out.sort(function (a, b) { return sign * compare(a, b) || a.index - b.index; });
    return out;
  }

  /* ------------------------------------------------------------ one segment */

  function highlighted(row) {
    var chars = Array.from(row.text); // spans are code-point offsets, not UTF-16 units
    var n = chars.length;
    var cuts = new Set([0, n]);
    var clamp = function (x) { return Math.max(0, Math.min(n, x)); };
    row.evidence.forEach(function (ev) {
      ev[2].forEach(function (span) { cuts.add(clamp(span[0])); cuts.add(clamp(span[1])); });
    });
    row.markers.forEach(function (m) { cuts.add(clamp(m[0])); cuts.add(clamp(m[1])); });
    var points = Array.from(cuts).sort(function (a, b) { return a - b; });
    var scale = DATA.evidence_scale || 1;
    var box = el("div", { className: "text", lang: "ja" });
    for (var p = 0; p + 1 < points.length; p++) {
      var a = points[p], b = points[p + 1];
      if (a >= b) continue;
      var weight = 0;
      var features = [];
      row.evidence.forEach(function (ev) {
        if (ev[2].some(function (span) { return span[0] <= a && span[1] >= b; })) {
          weight += ev[1];
          features.push(ev[0] + " " + (ev[1] >= 0 ? "+" : "") + ev[1].toFixed(2));
        }
      });
      var marks = row.markers.filter(function (m) { return m[0] <= a && m[1] >= b; });
      var piece = chars.slice(a, b).join("");
      if (!features.length && !marks.length) { box.appendChild(document.createTextNode(piece)); continue; }
      var span = el("span", null, piece);
      var title = [];
      if (features.length && weight !== 0) {
        var wire = weight > 0;
        // square root: weak evidence stays visible, strong evidence saturates
        var alpha = 0.08 + 0.62 * Math.sqrt(Math.min(1, Math.abs(weight) / scale));
        span.className = "ev " + (wire ? "ev-wire" : "ev-partisan");
        span.style.backgroundColor = wire ? "rgba(47,111,181," + alpha.toFixed(2) + ")" : "rgba(200,60,60," + alpha.toFixed(2) + ")";
        span.setAttribute("data-weight", weight.toFixed(4));
        title.push("towards " + (wire ? "wire" : "partisan") + " " + (weight >= 0 ? "+" : "") + weight.toFixed(2) + ": " + features.join(", "));
      }
      if (marks.length) {
        span.classList.add("marker");
        var techniques = Array.from(new Set(marks.map(function (m) { return m[2]; })));
        span.setAttribute("data-technique", techniques.join(" "));
        marks.forEach(function (m) { title.push(m[2] + ": " + m[3] + " (" + m[4] + ")"); });
      }
      span.title = title.join("\n");
      box.appendChild(span);
    }
    return box;
  }

  function chips(row) {
    var box = el("div", { className: "chips" });
    var groups = new Map(); // one chip per technique, its markers in the tooltip
    row.markers.forEach(function (m) {
      if (!groups.has(m[2])) groups.set(m[2], []);
      groups.get(m[2]).push(m);
    });
    groups.forEach(function (marks, technique) {
      var lines = marks.map(function (m) { return m[3] + (m[6] ? ": " + m[6] : "") + " (weight " + m[5] + ")"; });
      var chip = el("button", { type: "button", className: "chip " + marks[0][4], "data-technique": technique,
        title: lines.join("\n") + "\nclick to show only " + technique }, technique + (marks.length > 1 ? " ×" + marks.length : ""));
      chip.addEventListener("click", function () { setFilter("marker", "t:" + technique); });
      box.appendChild(chip);
    });
    return box;
  }

  function evidenceList(row) {
    var details = el("details", { className: "evidence" });
    details.appendChild(el("summary", null, "evidence (" + row.evidence.length + ")"));
    details.addEventListener("toggle", function () {
      if (!details.open || details.querySelector("ol")) return;
      var list = el("ol");
      var chars = Array.from(row.text);
      row.evidence.forEach(function (ev) {
        var surface = ev[2].length ? chars.slice(ev[2][0][0], ev[2][0][1]).join("") : ev[0];
        list.appendChild(el("li", { className: ev[1] >= 0 ? "wire" : "partisan" },
          surface + "  [" + ev[0] + "]  " + (ev[1] >= 0 ? "+" : "") + ev[1].toFixed(3)));
      });
      details.appendChild(list);
    });
    return details;
  }

  function reviewCell(row) {
    var td = el("td", { className: "review" });
    var buttons = el("div", { className: "buttons" });
    var confirm = el("button", { type: "button", className: "confirm", title: "The model is right: " + row.label }, "✓ " + row.label);
    var correct = el("button", { type: "button", className: "correct", title: "The model is wrong: this is " + OTHER[row.label] }, "→ " + OTHER[row.label]);
    var skip = el("button", { type: "button", className: "skip", title: "Cannot tell, or not worth labeling" }, "skip");
    confirm.addEventListener("click", function () { decide(row, "confirm"); });
    correct.addEventListener("click", function () { decide(row, "correct"); });
    skip.addEventListener("click", function () { decide(row, "skip"); });
    buttons.appendChild(confirm); buttons.appendChild(correct); buttons.appendChild(skip);
    td.appendChild(buttons);
    var note = el("input", { type: "text", className: "note", placeholder: "note", "aria-label": "note on " + row.id });
    var d = store.get(row.id);
    note.value = d && d.note ? d.note : "";
    note.addEventListener("input", function () { setNote(row, note.value); });
    td.appendChild(note);
    td.appendChild(el("span", { className: "status" }));
    return td;
  }

  function paintReview(tr, row) {
    var d = store.get(row.id);
    var decision = d && d.decision ? d.decision : "";
    tr.classList.remove("status-confirm", "status-correct", "status-skip");
    if (decision) tr.classList.add("status-" + decision);
    tr.setAttribute("data-status", decision || "unreviewed");
    ["confirm", "correct", "skip"].forEach(function (name) {
      tr.querySelector("td.review button." + name).setAttribute("aria-pressed", decision === name ? "true" : "false");
    });
    var status = tr.querySelector("td.review .status");
    status.textContent = decision === "confirm" ? "confirmed " + d.label
      : decision === "correct" ? "corrected to " + d.label
      : decision === "skip" ? "skipped" : "";
  }

  function refreshRow(row) {
    document.querySelectorAll("tr.segment").forEach(function (tr) {
      if (tr.getAttribute("data-id") === row.id) paintReview(tr, row);
    });
  }

  function segmentRow(row, context) {
    var tr = el("tr", { className: "segment" + (context ? " context" : ""), "data-id": row.id,
      "data-label": row.label, "data-post": row.post });
    tr.appendChild(el("td", { className: "num small", title: row.id }, row.line));
    var acct = el("td", { className: "acct" });
    acct.appendChild(el("div", null, accountName(row)));
    if (row.handle) acct.appendChild(el("div", { className: "small" }, "@" + row.handle));
    if (row.date) acct.appendChild(el("div", { className: "small" }, row.date));
    tr.appendChild(acct);
    tr.appendChild(el("td", { className: "role" }, row.role));
    var cell = el("td", { className: "textcell" });
    cell.appendChild(highlighted(row));
    if (row.markers.length) cell.appendChild(chips(row));
    var tools = el("div", { className: "seg-tools" });
    var siblings = POSTS.get(row.post).length;
    if (state.view === "segments") {
      var open = el("button", { type: "button", className: "open-post", title: "Show the whole post with its article paragraphs" },
        "whole post (" + siblings + " segment" + (siblings === 1 ? "" : "s") + ")");
      open.addEventListener("click", function () { openPost(row.post); });
      tools.appendChild(open);
    }
    if (row.evidence.length) tools.appendChild(evidenceList(row));
    cell.appendChild(tools);
    tr.appendChild(cell);
    var pw = el("td", { className: "num pwire" });
    var bar = el("div", { className: "bar", title: "p_wire " + row.p_wire.toFixed(3) });
    var fill = el("span");
    fill.style.width = (100 * row.p_wire).toFixed(1) + "%";
    bar.appendChild(fill);
    pw.appendChild(bar);
    pw.appendChild(document.createTextNode(row.p_wire.toFixed(2)));
    tr.appendChild(pw);
    tr.appendChild(el("td", { className: "label label-" + row.label }, row.label));
    tr.appendChild(reviewCell(row));
    paintReview(tr, row);
    return tr;
  }

  /* ------------------------------------------------------------ the list */

  var current = [];

  function pager(box, pages) {
    box.textContent = "";
    box.hidden = pages <= 1;
    if (pages <= 1) return;
    var go = function (label, page, disabled) {
      var b = el("button", { type: "button", className: "page", disabled: disabled }, label);
      b.addEventListener("click", function () { state.page = page; draw(); window.scrollTo(0, $("review").offsetTop); });
      box.appendChild(b);
    };
    go("« first", 0, state.page === 0);
    go("‹ previous", state.page - 1, state.page === 0);
    box.appendChild(el("span", { className: "page-of" }, "page " + (state.page + 1).toLocaleString() + " of " + pages.toLocaleString()));
    go("next ›", state.page + 1, state.page >= pages - 1);
    go("last »", pages - 1, state.page >= pages - 1);
  }

  function draw() {
    var size = state.pageSize;
    var items = current;
    var unit = "segments";
    if (state.view === "posts") {
      var seen = new Set();
      items = [];
      current.forEach(function (row) { if (!seen.has(row.post)) { seen.add(row.post); items.push(row.post); } });
      unit = "posts";
    }
    var pages = Math.max(1, Math.ceil(items.length / size));
    state.page = Math.max(0, Math.min(state.page, pages - 1));
    var start = state.page * size;
    var shown = items.slice(start, start + size);
    var tbody = $("segment-rows");
    var posts = $("posts");
    tbody.textContent = "";
    posts.textContent = "";
    var count = $("match-count");
    count.setAttribute("data-count", items.length);
    if (!items.length) {
      count.textContent = "";
    } else {
      var extra = state.view === "posts" ? " (" + current.length.toLocaleString() + " matching segments)" : "";
      count.textContent = "Showing " + (start + 1).toLocaleString() + "–" + (start + shown.length).toLocaleString() +
        " of " + items.length.toLocaleString() + " matching " + unit + extra + "; " + ROWS.length.toLocaleString() + " segments in the report.";
    }
    $("no-match").hidden = items.length > 0 || ROWS.length === 0;
    $("segments").hidden = state.view !== "segments" || !items.length;
    posts.hidden = state.view !== "posts" || !items.length;
    if (state.view === "segments") {
      var frag = document.createDocumentFragment();
      shown.forEach(function (row) { frag.appendChild(segmentRow(row, false)); });
      tbody.appendChild(frag);
    } else {
      var matched = new Set(current.map(function (row) { return row.id; }));
      shown.forEach(function (key) { posts.appendChild(postBlock(key, matched)); });
    }
    pager($("pager-top"), pages);
    pager($("pager-bottom"), pages);
    document.querySelectorAll("#segments th button.sort").forEach(function (b) {
      var active = b.getAttribute("data-sort") === state.sort;
      b.classList.toggle("active", active);
      b.classList.toggle("desc", active && state.desc);
    });
    var pf = $("post-filter");
    pf.hidden = !state.post;
    if (state.post) {
      var first = POSTS.get(state.post)[0];
      $("post-filter-text").textContent = "Showing one post: " + accountName(first) + (first.date ? " · " + first.date : "") + " (" + state.post + ")";
    }
  }

  function postBlock(key, matched) {
    var segments = POSTS.get(key);
    var first = segments[0];
    var mean = segments.reduce(function (s, r) { return s + r.p_wire; }, 0) / segments.length;
    var details = el("details", { className: "post", "data-post": key });
    var hits = segments.filter(function (r) { return matched.has(r.id); }).length;
    details.appendChild(el("summary", null,
      accountName(first) + (first.handle ? " @" + first.handle : "") + (first.date ? " · " + first.date : "") +
      " · " + segments.length + " segment" + (segments.length === 1 ? "" : "s") + " (" + hits + " matching) · mean p_wire " +
      mean.toFixed(2) + " · " + Array.from(first.text).slice(0, 60).join("") + (Array.from(first.text).length > 60 ? "…" : "")));
    var fill = function () {
      if (details.querySelector("table")) return;
      var table = el("table");
      var tbody = el("tbody");
      segments.forEach(function (row) { tbody.appendChild(segmentRow(row, !matched.has(row.id))); });
      table.appendChild(tbody);
      details.appendChild(table);
    };
    details.addEventListener("toggle", function () { if (details.open) fill(); });
    if (state.post === key) { details.open = true; fill(); }
    return details;
  }

  function update() {
    current = selection();
    draw();
  }

  function openPost(key) {
    state.post = key;
    state.view = "posts";
    $("f-view").value = "posts";
    state.page = 0;
    update();
    $("review").scrollIntoView();
  }

  /* ------------------------------------------------------------ controls */

  var CONTROLS = {
    "f-label": "label", "f-account": "account", "f-role": "role", "f-marker": "marker",
    "f-status": "status", "f-sort": "sort", "f-view": "view"
  };

  function setFilter(name, value) {
    state[name] = value;
    Object.keys(CONTROLS).forEach(function (id) { if (CONTROLS[id] === name) $(id).value = value; });
    state.page = 0;
    update();
  }

  function readNumber(id, fallback) {
    var v = parseFloat($(id).value);
    return isNaN(v) ? fallback : v;
  }

  function bind() {
    Object.keys(CONTROLS).forEach(function (id) {
      $(id).addEventListener("change", function () {
        state[CONTROLS[id]] = $(id).value;
        if (id === "f-view" && state.view === "segments") state.post = "";
        state.page = 0;
        update();
      });
    });
    var timer = null;
    $("f-search").addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { state.search = $("f-search").value; state.page = 0; update(); }, 150);
    });
    ["f-pmin", "f-pmax"].forEach(function (id) {
      $(id).addEventListener("input", function () {
        state.pmin = readNumber("f-pmin", 0);
        state.pmax = readNumber("f-pmax", 1);
        state.page = 0;
        update();
      });
    });
    $("f-desc").addEventListener("change", function () { state.desc = $("f-desc").checked; update(); });
    $("f-pagesize").value = String(state.pageSize);
    $("f-pagesize").addEventListener("change", function () { state.pageSize = parseInt($("f-pagesize").value, 10) || 50; state.page = 0; draw(); });
    document.querySelectorAll("#segments th button.sort").forEach(function (b) {
      b.addEventListener("click", function () {
        var key = b.getAttribute("data-sort");
        if (state.sort === key) state.desc = !state.desc;
        else { state.sort = key; state.desc = false; }
        $("f-sort").value = state.sort;
        $("f-desc").checked = state.desc;
        state.page = 0;
        update();
      });
    });
    $("b-queue").addEventListener("click", function () {
      state.sort = "queue"; state.desc = false; state.status = "unreviewed"; state.page = 0;
      $("f-sort").value = "queue"; $("f-desc").checked = false; $("f-status").value = "unreviewed";
      update();
    });
    $("b-reset").addEventListener("click", function () {
      ["f-search"].forEach(function (id) { $(id).value = ""; });
      Object.keys(CONTROLS).forEach(function (id) { if (id !== "f-sort" && id !== "f-view") $(id).value = ""; });
      $("f-pmin").value = "0"; $("f-pmax").value = "1";
      state.search = ""; state.label = ""; state.account = ""; state.role = ""; state.marker = "";
      state.status = ""; state.pmin = 0; state.pmax = 1; state.post = ""; state.page = 0;
      update();
    });
    $("b-clear-post").addEventListener("click", function () { state.post = ""; state.page = 0; update(); });
    $("b-export").addEventListener("click", exportCorrections);
  }

  store.load();
  bind();
  ["controls", "review-bar"].forEach(function (id) { $(id).hidden = false; });
  $("storage-warning").hidden = store.persistent;
  updateProgress();
  update();
  document.documentElement.setAttribute("data-ready", "true");
})();
