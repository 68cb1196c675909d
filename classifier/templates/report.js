/* postcred report, the core script: filters, search, sort, pages, post view, evidence,
 * review mode, keyboard review, and the registry other views' scripts join.
 *
 * Post text is untrusted.  This script reads it from the JSON blocks and only ever puts it
 * into the page with textContent / createElement / setAttribute; it never builds HTML
 * from strings.  User text shown inline sits in <bdi> (or between U+2068 and U+2069 in
 * tooltips), so a right-to-left override cannot reverse what follows it.
 *
 * Review decisions live in localStorage, one key per segment (see `store`), keyed by dump
 * and segment rather than by model, so two tabs never overwrite each other and a report
 * re-scored by a retrained model finds them again.
 *
 * Views: another script of the page registers a view with
 *   (window.postcredViews = window.postcredViews || []).push({id: "x", init: function (api) {}, update: function (api) {}})
 * before or after this one; `init` runs once when the page is ready, `update` after every
 * change of the filters or the decisions.  See `api` below for what a view may use: a view
 * may add a tool to every segment row (`addRowTool`) and lines of its own to the export
 * (`addExport`).
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
  var DECISION_WORDS = { confirm: "Confirmed", correct: "Corrected", skip: "Skipped", "": "Cleared" };
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

  /** User text as an isolated inline element: its direction cannot leak into the line. */
  function bdi(text, className) { return el("bdi", className ? { className: className } : null, text); }

  /** User text for a tooltip or other plain string: first-strong isolate ... pop isolate. */
  function iso(text) { return "\u2068" + text + "\u2069"; }

  /** A line of inline pieces: strings become text, nodes are kept. */
  function line(tag, attrs, pieces) {
    var node = el(tag, attrs);
    pieces.forEach(function (piece) {
      node.appendChild(typeof piece === "string" ? document.createTextNode(piece) : piece);
    });
    return node;
  }

  function accountName(row) { return row.account || "(unknown)"; }
  /** The key of a row's account in the account tables: its handle, else its name. */
  function accountKey(row) { return row.handle || accountName(row); }

  function excerpt(text, n) {
    var chars = Array.from(text);
    return chars.slice(0, n).join("") + (chars.length > n ? "…" : "");
  }

  /* ------------------------------------------------------------ decisions
   *
   * One localStorage key per reviewed segment:
   *   pc:<dump key>:<segment id less "<dump>:">:<text hash>  ->  <l><time><" note">
   * <l> is the reviewer's label (w wire, p partisan, s skipped, - note only), <time> the
   * seconds since 1970 in base 36; a note follows a space.  About 32 characters for a
   * decision without a note.  The reviewer's label is kept, not "confirm"/"correct": a
   * retrained model may predict the other label, and what the reviewer said still holds.
   * The text hash keeps a decision from showing on a segment whose text changed.
   */

  var CODES = { wire: "w", partisan: "p", skip: "s" };
  var LABEL_OF = { w: "wire", p: "partisan", s: "skip", "-": null };
  var QUOTA = 5242880; // characters (keys and values) Chromium keeps per origin; file:// is one origin
  var NEAR_FULL = 0.8;

  function textHash(text) { // FNV-1a, 32 bits, over UTF-16 units
    var h = 0x811c9dc5;
    for (var i = 0; i < text.length; i++) {
      h ^= text.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
    return (h >>> 0).toString(36);
  }

  function nowSeconds() { return Math.floor(Date.now() / 1000); }

  var store = {
    prefix: "pc:" + DATA.review_key + ":",
    legacy: "postcred-review:" + DATA.report_id, // where reports made before kept decisions
    items: new Map(), // segment id -> {label, time, note}
    tally: null, // decisions and notes counted, kept up to date as items change
    persistent: true,
    used: 0, // characters in localStorage, all reports together
    keyOf: function (row) {
      if (!row.storageKey) {
        var local = row.id.slice(DATA.id_prefix.length);
        row.storageKey = this.prefix + local + ":" + textHash(row.text);
      }
      return row.storageKey;
    },
    encode: function (d) {
      return (CODES[d.label] || "-") + d.time.toString(36) + (d.note ? " " + d.note : "");
    },
    decode: function (value) {
      if (typeof value !== "string" || !(value.charAt(0) in LABEL_OF)) return null;
      var space = value.indexOf(" ");
      var time = parseInt(space < 0 ? value.slice(1) : value.slice(1, space), 36);
      var d = { label: LABEL_OF[value.charAt(0)], time: isNaN(time) ? 0 : time, note: space < 0 ? "" : value.slice(space + 1) };
      return d.label || d.note ? d : null;
    },
    /** The row a storage key belongs to, when its text is still the one decided on. */
    rowOf: function (key) {
      if (typeof key !== "string" || key.indexOf(this.prefix) !== 0) return null;
      var rest = key.slice(this.prefix.length);
      var cut = rest.lastIndexOf(":");
      var row = cut < 0 ? null : BY_ID.get(DATA.id_prefix + rest.slice(0, cut));
      return row && this.keyOf(row) === key ? row : null;
    },
    /** The one place items change: the tally follows. */
    remember: function (row, d) {
      var before = this.items.get(row.id);
      if (before) this.count(row, before, -1);
      if (d) { this.items.set(row.id, d); this.count(row, d, 1); }
      else this.items.delete(row.id);
    },
    count: function (row, d, sign) {
      var status = this.statusOf(row, d);
      if (status) this.tally[status] += sign;
      if (d.note) this.tally.notes += sign;
    },
    load: function () {
      var keys;
      this.items = new Map();
      this.tally = { confirm: 0, correct: 0, skip: 0, notes: 0 };
      try {
        keys = Object.keys(window.localStorage);
      } catch (err) {
        this.persistent = false;
        return;
      }
      var used = 0;
      keys.forEach(function (key) {
        var value = window.localStorage.getItem(key) || "";
        used += key.length + value.length;
        var row = store.rowOf(key);
        var d = row ? store.decode(value) : null;
        if (d) store.remember(row, d);
      });
      this.used = used;
      this.migrate();
    },
    /** Decisions of a report made before this format (one JSON object under the report
     * id): moved to one key per segment, unless the segment has a newer decision. */
    migrate: function () {
      var raw = null;
      try { raw = window.localStorage.getItem(this.legacy); } catch (err) { return; }
      if (!raw) return;
      var old = null;
      try { old = JSON.parse(raw); } catch (err) { old = null; }
      if (old && typeof old === "object") {
        Object.keys(old).forEach(function (id) {
          var d = old[id];
          var row = BY_ID.get(id);
          if (!row || !d || typeof d !== "object" || store.items.has(id)) return;
          var label = d.decision === "skip" ? "skip" : (d.decision && OTHER[d.label] ? d.label : null);
          var note = typeof d.note === "string" ? d.note : "";
          if (!label && !note) return;
          var time = Math.floor((Date.parse(d.time) || Date.now()) / 1000);
          store.put(row, { label: label, time: time, note: note });
        });
      }
      if (this.persistent) {
        window.localStorage.removeItem(this.legacy);
        this.used -= this.legacy.length + raw.length;
      }
    },
    get: function (id) { return this.items.get(id) || null; },
    status: function (row) { return this.statusOf(row, this.items.get(row.id)); },
    /** "confirm", "correct" or "skip" by the reviewer's label and this model's prediction. */
    statusOf: function (row, d) {
      if (!d || !d.label) return "";
      return d.label === "skip" ? "skip" : d.label === row.label ? "confirm" : "correct";
    },
    /** Set (or, with null, clear) a row's decision, in memory and in localStorage. */
    put: function (row, d) {
      var key = this.keyOf(row);
      var before = this.items.get(row.id);
      var oldSize = before ? key.length + this.encode(before).length : 0;
      this.remember(row, d);
      try {
        if (d) window.localStorage.setItem(key, this.encode(d));
        else window.localStorage.removeItem(key);
        this.used += (d ? key.length + this.encode(d).length : 0) - oldSize;
      } catch (err) {
        this.persistent = false; // full or unavailable: the decision is kept in memory for the export
      }
      showStorage();
    },
    /** A change another tab made (the `storage` event): taken as it is. */
    external: function (event) {
      if (event.key === null) { this.load(); return ROWS; } // storage cleared
      this.used += (event.newValue ? event.key.length + event.newValue.length : 0) -
        (event.oldValue ? event.key.length + event.oldValue.length : 0);
      var row = this.rowOf(event.key);
      if (!row) return [];
      this.remember(row, event.newValue === null ? null : this.decode(event.newValue));
      return [row];
    }
  };

  function showStorage() {
    $("storage-warning").hidden = store.persistent;
    var full = store.persistent && store.used >= NEAR_FULL * QUOTA;
    $("storage-full").hidden = !full;
    if (full) {
      $("storage-full-text").textContent = "Browser storage for reports is " + Math.round(100 * store.used / QUOTA) +
        "% full (" + (store.used / 1e6).toFixed(1) + " of " + (QUOTA / 1e6).toFixed(1) +
        " M characters, all file:// reports together): export your corrections now; decisions stop being saved when it is full.";
    }
  }

  var undoStack = []; // {row, before}: this tab's decisions, last first to undo
  var listeners = []; // views' update functions
  var rowTools = []; // views' functions row -> a node for the row's tools, or null
  var exporters = []; // views' {count: fn, lines: fn}: what they add to the export

  /** Set a row's reviewer label ("wire", "partisan", "skip", or null to clear it). */
  function labelRow(row, label) {
    var d = store.get(row.id);
    var note = d ? d.note : "";
    undoStack.push({ row: row, before: d });
    store.put(row, label || note ? { label: label, time: nowSeconds(), note: note } : null);
    decided(row, true);
  }

  /** The buttons: confirm, correct or skip; pressing the active one again clears it. */
  function toggle(row, decision) {
    var label = decision === "confirm" ? row.label : decision === "correct" ? OTHER[row.label] : "skip";
    labelRow(row, store.status(row) === decision ? null : label);
  }

  function setNote(row, note) {
    var d = store.get(row.id);
    var label = d ? d.label : null;
    store.put(row, label || note ? { label: label, time: nowSeconds(), note: note } : null);
    updateProgress();
    notify();
  }

  function undo() {
    var last = undoStack.pop();
    if (!last) { toast("Nothing to undo.", false); return; }
    store.put(last.row, last.before);
    decided(last.row, false);
    bringBack(last.row);
    toast("Undone: " + excerpt(last.row.text, 24), false);
  }

  function updateProgress() {
    var c = store.tally;
    var reviewed = c.confirm + c.correct + c.skip;
    var training = c.confirm + c.correct;
    var progress = $("progress");
    progress.textContent = "Reviewed " + reviewed.toLocaleString() + " of " + ROWS.length.toLocaleString() +
      " segments: " + c.confirm + " confirmed, " + c.correct + " corrected, " + c.skip + " skipped · " + c.notes +
      " notes · export: " + training + " training row" + (training === 1 ? "" : "s");
    progress.setAttribute("data-reviewed", reviewed);
    progress.setAttribute("data-corrected", c.correct);
    progress.setAttribute("data-training", training);
    var extra = exporters.reduce(function (n, x) { return n + x.count(); }, 0);
    $("b-export").disabled = reviewed + c.notes + extra === 0;
  }

  function isoTime(seconds) { return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z"); }

  function exportLines() {
    var topic = $("f-topic").value.trim();
    var lines = [];
    ROWS.forEach(function (row) {
      var d = store.get(row.id);
      if (!d) return;
      var status = store.status(row);
      var record = {
        id: row.id,
        text: row.text,
        predicted_label: row.label,
        p_wire: row.p_wire,
        reviewer_label: d.label && d.label !== "skip" ? d.label : null,
        decision: status || null,
        note: d.note || "",
        time: isoTime(d.time),
        report_id: DATA.report_id,
        model_hash: DATA.model_hash,
        dump: row.id.slice(0, row.id.lastIndexOf(":")),
        account: row.account,
        role: row.role
      };
      if (topic) record.topic = topic;
      lines.push(JSON.stringify(record));
    });
    exporters.forEach(function (x) {
      x.lines().forEach(function (record) { lines.push(JSON.stringify(record)); });
    });
    return lines;
  }

  function exportCorrections() {
    var lines = exportLines();
    if (!lines.length) return;
    var blob = new Blob([lines.join("\n") + "\n"], { type: "application/x-ndjson" });
    var link = el("a", { href: URL.createObjectURL(blob), download: "corrections.jsonl" });
    document.body.appendChild(link);
    link.click();
    setTimeout(function () { URL.revokeObjectURL(link.href); link.remove(); }, 2000);
  }

  var topicKey = "pc-topic:" + DATA.review_key;

  function loadTopic() {
    try { $("f-topic").value = window.localStorage.getItem(topicKey) || ""; } catch (err) { /* not kept */ }
  }

  function saveTopic() {
    var topic = $("f-topic").value.trim();
    try {
      if (topic) window.localStorage.setItem(topicKey, topic);
      else window.localStorage.removeItem(topicKey);
    } catch (err) { /* the field still goes into this export */ }
  }

  /* ------------------------------------------------------------ filters */

  var state = {
    search: "", label: "", account: "", role: "", marker: "", pmin: 0, pmax: 1,
    status: "", sort: "line", desc: false, view: "segments", pageSize: DATA.page_size || 50,
    page: 0, post: "", allEvidence: false, handle: ""
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
    var status = store.status(row);
    if (s === "unreviewed") return !status;
    if (s === "reviewed") return !!status;
    if (s === "note") { var d = store.get(row.id); return !!(d && d.note); }
    return status === s;
  }

  function searchTerms() { return normalize(state.search).split(/\s+/).filter(Boolean); }

  function matches(row, terms) {
    if (state.post && row.post !== state.post) return false;
    if (state.label && row.label !== state.label) return false;
    if (state.account && accountName(row) !== state.account) return false;
    if (state.handle && accountKey(row) !== state.handle) return false;
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
    status: function (a, b) { return STATUS_ORDER[store.status(a)] - STATUS_ORDER[store.status(b)]; }
  };

  function selection() {
    var terms = searchTerms();
    var out = ROWS.filter(function (row) { return matches(row, terms); });
    var compare = SORT_KEYS[state.sort] || SORT_KEYS.line;
    var sign = state.desc ? -1 : 1;
    out.sort(function (a, b) { return sign * compare(a, b) || a.index - b.index; });
    return out;
  }

  /* ------------------------------------------------------------ one segment */

  /** The evidence highlighted in a row: the strongest few each way (rows keep their
   * evidence strongest first), or all of it with the "all evidence" switch. */
  function shownEvidence(row) {
    if (state.allEvidence) return row.evidence;
    var top = DATA.evidence_top || 3;
    var wire = 0, partisan = 0;
    return row.evidence.filter(function (ev) {
      if (ev[1] >= 0) { wire += 1; return wire <= top; }
      partisan += 1;
      return partisan <= top;
    });
  }

  function highlighted(row) {
    var chars = Array.from(row.text); // spans are code-point offsets, not UTF-16 units
    var n = chars.length;
    var evidence = shownEvidence(row);
    var cuts = new Set([0, n]);
    var clamp = function (x) { return Math.max(0, Math.min(n, x)); };
    evidence.forEach(function (ev) {
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
      evidence.forEach(function (ev) {
        if (ev[2].some(function (span) { return span[0] <= a && span[1] >= b; })) {
          weight += ev[1];
          features.push(iso(ev[0]) + " " + (ev[1] >= 0 ? "+" : "") + ev[1].toFixed(2));
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
      var lines = marks.map(function (m) { return m[3] + (m[6] ? ": " + iso(m[6]) : "") + " (weight " + m[5] + ")"; });
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
        list.appendChild(line("li", { className: ev[1] >= 0 ? "wire" : "partisan" },
          [bdi(surface), "  [", bdi(ev[0]), "]  " + (ev[1] >= 0 ? "+" : "") + ev[1].toFixed(3)]));
      });
      details.appendChild(list);
    });
    return details;
  }

  function reviewCell(row) {
    var td = el("td", { className: "review" });
    var buttons = el("div", { className: "buttons" });
    var confirm = el("button", { type: "button", className: "confirm",
      title: "The model is right: " + row.label + " (exported as a training row labeled " + row.label + "; key " + row.label.charAt(0) + ")" }, "✓ " + row.label);
    var correct = el("button", { type: "button", className: "correct",
      title: "The model is wrong: this is " + OTHER[row.label] + " (a training row labeled " + OTHER[row.label] + "; key " + OTHER[row.label].charAt(0) + ")" }, "→ " + OTHER[row.label]);
    var skip = el("button", { type: "button", className: "skip", title: "Cannot tell, or not worth a training row (key s)" }, "skip");
    confirm.addEventListener("click", function () { focusRow(row.id, false); toggle(row, "confirm"); });
    correct.addEventListener("click", function () { focusRow(row.id, false); toggle(row, "correct"); });
    skip.addEventListener("click", function () { focusRow(row.id, false); toggle(row, "skip"); });
    buttons.appendChild(confirm); buttons.appendChild(correct); buttons.appendChild(skip);
    td.appendChild(buttons);
    var note = el("input", { type: "text", className: "note", placeholder: "note (n)", "aria-label": "note on " + row.id });
    var d = store.get(row.id);
    note.value = d && d.note ? d.note : "";
    note.addEventListener("input", function () { setNote(row, note.value); });
    note.addEventListener("focus", function () { focusRow(row.id, false); });
    td.appendChild(note);
    td.appendChild(el("span", { className: "status" }));
    return td;
  }

  function paintReview(tr, row) {
    var d = store.get(row.id);
    var decision = store.status(row);
    tr.classList.remove("status-confirm", "status-correct", "status-skip");
    if (decision) tr.classList.add("status-" + decision);
    tr.setAttribute("data-status", decision || "unreviewed");
    ["confirm", "correct", "skip"].forEach(function (name) {
      tr.querySelector("td.review button." + name).setAttribute("aria-pressed", decision === name ? "true" : "false");
    });
    var note = tr.querySelector("td.review input.note");
    if (document.activeElement !== note) note.value = d && d.note ? d.note : "";
    var status = tr.querySelector("td.review .status");
    status.textContent = decision === "confirm" ? "confirmed " + d.label
      : decision === "correct" ? "corrected to " + d.label
      : decision === "skip" ? "skipped" : "";
  }

  function rowElements(id) {
    return Array.prototype.filter.call(document.querySelectorAll("tr.segment"), function (tr) {
      return tr.getAttribute("data-id") === id;
    });
  }

  function refreshRow(row) {
    rowElements(row.id).forEach(function (tr) { paintReview(tr, row); });
  }

  function segmentRow(row, context) {
    var tr = el("tr", { className: "segment" + (context ? " context" : ""), "data-id": row.id,
      "data-label": row.label, "data-post": row.post });
    tr.appendChild(el("td", { className: "num small", title: row.id }, row.line));
    var acct = el("td", { className: "acct" });
    acct.appendChild(line("div", null, [bdi(accountName(row))]));
    if (row.handle) acct.appendChild(line("div", { className: "small" }, ["@", bdi(row.handle)]));
    if (row.date) acct.appendChild(line("div", { className: "small" }, [bdi(row.date)]));
    tr.appendChild(acct);
    tr.appendChild(line("td", { className: "role" }, [bdi(row.role)]));
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
    rowTools.forEach(function (tool) { var node = tool(row); if (node) tools.appendChild(node); });
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
    tr.addEventListener("click", function (event) {
      if (!event.target.closest("button, input, summary, a")) focusRow(row.id, false);
    });
    paintReview(tr, row);
    if (row.id === focusId) markFocused(tr);
    return tr;
  }

  /* ------------------------------------------------------------ the list */

  var current = [];

  function units() {
    if (state.view !== "posts") return current;
    var seen = new Set();
    var posts = [];
    current.forEach(function (row) { if (!seen.has(row.post)) { seen.add(row.post); posts.push(row.post); } });
    return posts;
  }

  function pageCount() { return Math.max(1, Math.ceil(units().length / state.pageSize)); }

  /** Fill ``box`` with page buttons for ``page`` of ``pages`` (‹ previous, "page N of M"
   * and ``options.note``, next ›; with ``options.ends`` also « first and last »): a click
   * calls ``go(page)``.  The box hides when there is one page, unless ``options.always``;
   * ``options.id`` names the count. Every view's pager (segments, accounts, campaigns). */
  function pager(box, page, pages, go, options) {
    options = options || {};
    box.textContent = "";
    box.hidden = pages <= 1 && !options.always;
    if (box.hidden) return;
    var button = function (label, target, disabled) {
      var b = el("button", { type: "button", className: "page", disabled: disabled }, label);
      b.addEventListener("click", function () { go(target); });
      box.appendChild(b);
    };
    if (options.ends) button("« first", 0, page === 0);
    button("‹ previous", page - 1, page === 0);
    box.appendChild(el("span", { className: "page-of", id: options.id },
      "page " + (page + 1).toLocaleString() + " of " + pages.toLocaleString() + (options.note || "")));
    button("next ›", page + 1, page >= pages - 1);
    if (options.ends) button("last »", pages - 1, page >= pages - 1);
  }

  function segmentPager(box, pages) {
    pager(box, state.page, pages, function (page) {
      state.page = page; draw(); window.scrollTo(0, $("review").offsetTop);
    }, { ends: true });
  }

  function draw() {
    var size = state.pageSize;
    var items = units();
    var unit = state.view === "posts" ? "posts" : "segments";
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
    segmentPager($("pager-top"), pages);
    segmentPager($("pager-bottom"), pages);
    document.querySelectorAll("#segments th button.sort").forEach(function (b) {
      var active = b.getAttribute("data-sort") === state.sort;
      b.classList.toggle("active", active);
      b.classList.toggle("desc", active && state.desc);
    });
    var af = $("account-filter");
    af.hidden = !state.handle;
    if (state.handle) {
      var who = $("account-filter-text");
      who.textContent = "Showing one account: ";
      who.appendChild(bdi(state.handle));
    }
    var pf = $("post-filter");
    pf.hidden = !state.post;
    if (state.post) {
      var first = POSTS.get(state.post)[0];
      var text = $("post-filter-text");
      text.textContent = "";
      [ "Showing one post: ", bdi(accountName(first)), first.date ? " · " : "", first.date ? bdi(first.date) : "",
        " (", bdi(state.post), ")" ].forEach(function (piece) {
        if (piece) text.appendChild(typeof piece === "string" ? document.createTextNode(piece) : piece);
      });
    }
  }

  function postBlock(key, matched) {
    var segments = POSTS.get(key);
    var first = segments[0];
    var mean = segments.reduce(function (s, r) { return s + r.p_wire; }, 0) / segments.length;
    var details = el("details", { className: "post", "data-post": key });
    var hits = segments.filter(function (r) { return matched.has(r.id); }).length;
    var pieces = [bdi(accountName(first), "who")];
    if (first.handle) pieces.push(" @", bdi(first.handle));
    if (first.date) pieces.push(" · ", bdi(first.date));
    pieces.push(" · " + segments.length + " segment" + (segments.length === 1 ? "" : "s") + " (" + hits + " matching) · mean p_wire " +
      mean.toFixed(2) + " · ", bdi(excerpt(first.text, 60), "excerpt"));
    details.appendChild(line("summary", null, pieces));
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
    notify();
  }

  function notify() { listeners.forEach(function (fn) { fn(api); }); }

  function openPost(key) {
    state.post = key;
    state.view = "posts";
    $("f-view").value = "posts";
    state.page = 0;
    update();
    $("review").scrollIntoView();
  }

  /* ------------------------------------------------------------ the queue moves
   *
   * A decision that takes a row out of the filters (the queue shows unreviewed segments
   * only) takes it out of the list at once: the count updates, the next row takes its
   * place and the focus, and `u` (or the toast's Undo) brings it back.
   */

  function decided(row, moveOn) {
    refreshRow(row);
    updateProgress();
    var position = current.indexOf(row);
    var leaves = position >= 0 && !matches(row, searchTerms());
    if (moveOn) {
      var status = store.status(row);
      toast(DECISION_WORDS[status] + (status === "correct" ? " to " + store.get(row.id).label : "") + ": " +
        excerpt(row.text, 24) + (leaves ? " (left the list)" : ""), true);
    }
    if (leaves) {
      current.splice(position, 1);
      var next = current[Math.min(position, current.length - 1)];
      if (state.view === "segments" && next) state.page = Math.floor(Math.min(position, current.length - 1) / state.pageSize);
      focusId = next ? next.id : null;
      draw();
      if (next) focusRow(next.id, true);
    }
    notify();
    return leaves;
  }

  /** After an undo: the row rejoins the list if it matches again, and takes the focus. */
  function bringBack(row) {
    if (current.indexOf(row) < 0 && matches(row, searchTerms())) {
      current = selection();
      var position = current.indexOf(row);
      if (state.view === "segments") state.page = Math.floor(position / state.pageSize);
      draw();
    }
    focusRow(row.id, true);
  }

  var toastTimer = null;

  function toast(message, undoable) {
    $("toast-text").textContent = message;
    $("b-undo").hidden = !undoable || !undoStack.length;
    $("toast").hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { $("toast").hidden = true; }, 8000);
  }

  /* ------------------------------------------------------------ keyboard review */

  var focusId = null;

  function markFocused(tr) {
    tr.classList.add("focused");
    tr.setAttribute("aria-current", "true");
  }

  function visibleRows() {
    return Array.prototype.slice.call(document.querySelectorAll("#segment-rows tr.segment, #posts details[open] tr.segment"));
  }

  function focusRow(id, scroll) {
    document.querySelectorAll("tr.segment.focused").forEach(function (tr) {
      tr.classList.remove("focused");
      tr.removeAttribute("aria-current");
    });
    focusId = id;
    var tr = visibleRows().filter(function (t) { return t.getAttribute("data-id") === id; })[0];
    if (!tr) return null;
    markFocused(tr);
    if (scroll) tr.scrollIntoView({ block: "nearest" });
    return tr;
  }

  function focusedRow() {
    var tr = focusId === null ? null : visibleRows().filter(function (t) { return t.getAttribute("data-id") === focusId; })[0];
    return tr ? BY_ID.get(focusId) : null;
  }

  /** Move the focus by one row, across page boundaries. */
  function moveFocus(delta) {
    var trs = visibleRows();
    var i = trs.findIndex(function (tr) { return tr.getAttribute("data-id") === focusId; });
    if (i < 0) {
      if (trs.length) focusRow(trs[delta > 0 ? 0 : trs.length - 1].getAttribute("data-id"), true);
      return;
    }
    var j = i + delta;
    if (j >= 0 && j < trs.length) { focusRow(trs[j].getAttribute("data-id"), true); return; }
    var pages = pageCount();
    if ((delta > 0 && state.page >= pages - 1) || (delta < 0 && state.page === 0)) return;
    state.page += delta > 0 ? 1 : -1;
    draw();
    trs = visibleRows();
    if (trs.length) focusRow(trs[delta > 0 ? 0 : trs.length - 1].getAttribute("data-id"), true);
  }

  /** w, p, s: label the focused row, then move on (a row that left the list already did). */
  function keyLabel(label) {
    var row = focusedRow();
    if (!row) { moveFocus(1); return; }
    var d = store.get(row.id);
    if (d && d.label === label) { moveFocus(1); return; } // already so: just move on
    var before = current.length;
    labelRow(row, label);
    if (current.length === before) moveFocus(1);
  }

  function focusNote() {
    var row = focusedRow();
    if (!row) { moveFocus(1); return; }
    var tr = focusRow(row.id, true);
    if (tr) tr.querySelector("input.note").focus();
  }

  function help(open) {
    $("help").hidden = !open;
    if (open) $("b-help-close").focus();
    else if (document.activeElement && $("help").contains(document.activeElement)) document.activeElement.blur();
  }

  var KEYS = {
    j: function () { moveFocus(1); },
    k: function () { moveFocus(-1); },
    w: function () { keyLabel("wire"); },
    p: function () { keyLabel("partisan"); },
    s: function () { keyLabel("skip"); },
    n: focusNote,
    u: undo,
    e: exportCorrections,
    "?": function () { help($("help").hidden); }
  };

  var NOT_TYPING = { checkbox: 1, radio: 1, button: 1, submit: 1, reset: 1, range: 1, color: 1, file: 1 };

  function typing(target) {
    if (!target || !target.tagName) return false;
    if (target.isContentEditable || target.tagName === "TEXTAREA" || target.tagName === "SELECT") return true;
    return target.tagName === "INPUT" && !NOT_TYPING[(target.getAttribute("type") || "text").toLowerCase()];
  }

  function onKey(event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    var target = event.target;
    if (typing(target)) {
      if ((event.key === "Escape" || event.key === "Enter") && target.classList.contains("note")) {
        event.preventDefault();
        target.blur();
      }
      return;
    }
    if (!$("help").hidden) {
      if (event.key === "Escape" || event.key === "?") { event.preventDefault(); help(false); }
      return;
    }
    var action = Object.prototype.hasOwnProperty.call(KEYS, event.key) ? KEYS[event.key] : null;
    if (!action) return;
    event.preventDefault();
    action();
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

  /** Every filter back to its default, the order back to input order. */
  function resetFilters() {
    $("f-search").value = "";
    Object.keys(CONTROLS).forEach(function (id) { if (id !== "f-view") $(id).value = ""; });
    $("f-sort").value = "line";
    $("f-desc").checked = false;
    $("f-pmin").value = "0"; $("f-pmax").value = "1";
    state.search = ""; state.label = ""; state.account = ""; state.role = ""; state.marker = "";
    state.status = ""; state.pmin = 0; state.pmax = 1; state.post = ""; state.handle = ""; state.page = 0;
    state.sort = "line"; state.desc = false;
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
    $("f-allev").addEventListener("change", function () { state.allEvidence = $("f-allev").checked; draw(); });
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
      var first = visibleRows()[0];
      if (first) focusRow(first.getAttribute("data-id"), false);
    });
    $("b-reset").addEventListener("click", function () { resetFilters(); update(); });
    $("b-clear-post").addEventListener("click", function () { state.post = ""; state.page = 0; update(); });
    $("b-clear-account").addEventListener("click", function () { state.handle = ""; state.page = 0; update(); });
    $("b-export").addEventListener("click", exportCorrections);
    $("b-export-now").addEventListener("click", exportCorrections);
    $("b-undo").addEventListener("click", undo);
    $("b-help").addEventListener("click", function () { help(true); });
    $("b-help-close").addEventListener("click", function () { help(false); });
    $("help").addEventListener("click", function (event) { if (event.target === $("help")) help(false); });
    $("f-topic").addEventListener("change", saveTopic);
    document.addEventListener("keydown", onKey);
    // Another tab of a report of this dump decided: take its decisions as they come.
    window.addEventListener("storage", function (event) {
      if (event.storageArea !== window.localStorage) return;
      var changed = store.external(event);
      if (changed === ROWS) { update(); updateProgress(); return; }
      if (event.key === topicKey && document.activeElement !== $("f-topic")) loadTopic();
      changed.forEach(refreshRow);
      if (changed.length) { updateProgress(); notify(); }
      showStorage();
    });
  }

  /* ------------------------------------------------------------ views */

  /** What a view's script may use. */
  var api = {
    data: DATA,
    rows: ROWS,
    byId: BY_ID,
    posts: POSTS,
    el: el,
    bdi: bdi,
    iso: iso,
    accountKey: accountKey,
    pager: pager,
    status: function (row) { return store.status(row); },
    /** Show the segment list with only these filters, e.g. {account: "x", marker: "t:Doubt"};
     * {handle: "x"} keeps one account of the account tables (its handle, else its name). */
    showSegments: function (filters) {
      resetFilters();
      Object.keys(filters || {}).forEach(function (name) {
        if (!(name in state)) return;
        state[name] = filters[name];
        Object.keys(CONTROLS).forEach(function (id) { if (CONTROLS[id] === name) $(id).value = filters[name]; });
      });
      update();
      $("review").scrollIntoView();
    },
    /** Show one segment in the list (every filter cleared, its page open) and focus it. */
    showRow: function (id) {
      var row = BY_ID.get(id);
      if (!row) return false;
      resetFilters();
      state.view = "segments";
      $("f-view").value = "segments";
      current = selection();
      state.page = Math.floor(current.indexOf(row) / state.pageSize);
      draw();
      notify();
      focusRow(id, true);
      return true;
    },
    /** Add a tool to every segment row: fn(row) returns a node, or null for none. */
    addRowTool: function (fn) { rowTools.push(fn); },
    /** Add lines to the export: {count: fn -> number, lines: fn -> [objects]}. */
    addExport: function (exporter) { exporters.push(exporter); updateProgress(); },
    /** Say that what a view exports changed (the export button follows). */
    exportChanged: function () { updateProgress(); },
    /** The export, as the export button downloads it. */
    exportNow: function () { exportCorrections(); }
  };

  var started = false;
  var views = [];

  function startView(view) {
    if (typeof view.init === "function") view.init(api);
    if (typeof view.update === "function") listeners.push(view.update);
  }

  var queued = Array.isArray(window.postcredViews) ? window.postcredViews : [];
  window.postcredViews = {
    push: function (view) {
      views.push(view);
      if (started) { startView(view); view.update && view.update(api); }
    }
  };
  queued.forEach(function (view) { window.postcredViews.push(view); });

  function start() {
    store.load();
    bind();
    ["controls", "review-bar", "export-note"].forEach(function (id) { $(id).hidden = false; });
    showStorage();
    loadTopic();
    updateProgress();
    started = true;
    views.forEach(startView);
    update();
    document.documentElement.setAttribute("data-ready", "true");
  }

  // Views' scripts come after this one in the page: start once they have all run.
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
