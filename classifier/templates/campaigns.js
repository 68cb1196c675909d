/* postcred report, the Campaigns view: campaigns largest first, each campaign's posts side
 * by side with the characters that differ from its first post marked, a link from every
 * segment row of the review list to its campaign, and the reviewer's marks.
 *
 * The data (#campaign-data) is prepared in Python (classifier/campaigns_view.py): the
 * differences are pieces of plain text, put into the page with textContent only.
 *
 * Marks (coordinated / organic / share_template) are kept like review decisions: one
 * localStorage key per campaign, by dump and by the segment id of the campaign's first
 * post (campaign numbers change when detection reruns with other parameters; the first
 * post does not), and exported with the review export as lines of kind "campaign".
 */
(function () {
  "use strict";

  var node = document.getElementById("campaign-data");
  if (!node) return;
  var DATA = JSON.parse(node.textContent);
  var MARKS = { coordinated: "c", organic: "o", share_template: "t" };
  var MARK_OF = { c: "coordinated", o: "organic", t: "share_template" };
  var MARK_WORDS = { coordinated: "coordinated", organic: "organic", share_template: "share template" };
  var SAME = 0, CHANGED = 1, MISSING = 2;

  var CAMPAIGNS = DATA.campaigns.map(function (c, index) {
    c.index = index;
    c.posts_rows = c.rows.map(function (values) {
      var post = {};
      DATA.columns.forEach(function (name, i) { post[name] = values[i]; });
      return post;
    });
    return c;
  });
  var BY_ID = new Map(CAMPAIGNS.map(function (c) { return [c.id, c]; }));

  function $(id) { return document.getElementById(id); }

  /* ------------------------------------------------------------ marks */

  var marks = {
    prefix: null, // pc-campaign:<dump key>:
    idPrefix: "",
    items: new Map(), // campaign id -> {mark, time}
    persistent: true,
    init: function (api) {
      this.prefix = "pc-campaign:" + api.data.review_key + ":";
      this.idPrefix = api.data.id_prefix || "";
      this.load();
    },
    keyOf: function (c) {
      var local = c.key.indexOf(this.idPrefix) === 0 ? c.key.slice(this.idPrefix.length) : c.key;
      return this.prefix + local;
    },
    decode: function (value) {
      if (typeof value !== "string" || !(value.charAt(0) in MARK_OF)) return null;
      var time = parseInt(value.slice(1), 36);
      return { mark: MARK_OF[value.charAt(0)], time: isNaN(time) ? 0 : time };
    },
    load: function () {
      var self = this;
      this.items = new Map();
      CAMPAIGNS.forEach(function (c) {
        var value = null;
        try { value = window.localStorage.getItem(self.keyOf(c)); } catch (err) { self.persistent = false; }
        var d = self.decode(value);
        if (d) self.items.set(c.id, d);
      });
    },
    get: function (c) { return this.items.get(c.id) || null; },
    put: function (c, mark) {
      var d = mark ? { mark: mark, time: Math.floor(Date.now() / 1000) } : null;
      if (d) this.items.set(c.id, d); else this.items.delete(c.id);
      try {
        if (d) window.localStorage.setItem(this.keyOf(c), MARKS[d.mark] + d.time.toString(36));
        else window.localStorage.removeItem(this.keyOf(c));
      } catch (err) {
        this.persistent = false; // kept in memory for the export
      }
    },
    /** A change another tab made: the campaign it belongs to, or null. */
    external: function (event) {
      if (typeof event.key !== "string" || event.key.indexOf(this.prefix) !== 0) return null;
      var found = CAMPAIGNS.filter(function (c) { return marks.keyOf(c) === event.key; })[0];
      if (!found) return null;
      var d = this.decode(event.newValue);
      if (d) this.items.set(found.id, d); else this.items.delete(found.id);
      return found;
    }
  };

  function isoTime(seconds) { return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z"); }

  function exportLines(api) {
    var out = [];
    CAMPAIGNS.forEach(function (c) {
      var d = marks.get(c);
      if (!d) return;
      out.push({
        kind: "campaign",
        campaign: c.id,
        first_id: c.key,
        mark: d.mark,
        detected_kind: c.kind,
        time: isoTime(d.time),
        report_id: api.data.report_id,
        model_hash: api.data.model_hash,
        dump: c.key.slice(0, c.key.lastIndexOf(":")),
        posts: c.posts,
        accounts: c.accounts,
        median_p_wire: c.median_p_wire,
        ids: c.posts_rows.map(function (p) { return p.id; }),
        text: c.posts_rows[0].pieces.map(function (piece) { return piece[1]; }).join("")
      });
    });
    return out;
  }

  /* ------------------------------------------------------------ drawing */

  var state = { kind: "", mark: "", page: 0, pageSize: 10 };
  var api = null;

  function el(tag, attrs, text) { return api.el(tag, attrs, text); }

  function piecesNode(pieces) {
    var box = el("div", { className: "text campaign-text", lang: "ja" });
    pieces.forEach(function (piece) {
      if (piece[0] === SAME) box.appendChild(document.createTextNode(piece[1]));
      else if (piece[0] === CHANGED) box.appendChild(el("mark", { className: "diff", title: "differs from the first post" }, piece[1]));
      else if (piece[0] === MISSING) box.appendChild(el("del", { className: "diff", title: "in the first post, not in this one" }, piece[1]));
    });
    return box;
  }

  function fmt(value, digits) { return value === null || value === undefined ? "" : Number(value).toFixed(digits); }

  function timeCell(c, post) {
    var td = el("td", { className: "small when" });
    if (post.date) td.appendChild(api.bdi(post.date));
    if (post.offset !== null && post.offset !== undefined) {
      td.appendChild(el("div", null, "+" + post.offset.toLocaleString() + (c.time_unit === "day" ? " d" : " s")));
    }
    return td;
  }

  function postRow(c, post, number) {
    var tr = el("tr", { className: "campaign-post", "data-id": post.id });
    tr.appendChild(el("td", { className: "num small" }, number));
    var acct = el("td", { className: "acct" });
    acct.appendChild(el("div")).appendChild(api.bdi(post.account || "(unknown)"));
    if (post.handle) { var h = el("div", { className: "small" }, "@"); h.appendChild(api.bdi(post.handle)); acct.appendChild(h); }
    tr.appendChild(acct);
    tr.appendChild(timeCell(c, post));
    tr.appendChild(el("td", { className: "num", title: "3-gram Jaccard similarity to the first post" }, fmt(post.similarity, 2)));
    tr.appendChild(el("td", { className: "num" }, fmt(post.p_wire, 2)));
    var cell = el("td", { className: "textcell" });
    cell.appendChild(piecesNode(post.pieces));
    var tools = el("div", { className: "seg-tools" });
    if (post.techniques) tools.appendChild(el("span", { className: "small" }, post.techniques));
    if (api.byId.has(post.id)) {
      var go = el("button", { type: "button", className: "show-segment", title: "Show this post in the segment list" }, "in the segment list");
      go.addEventListener("click", function () { api.showRow(post.id); });
      tools.appendChild(go);
    }
    cell.appendChild(tools);
    tr.appendChild(cell);
    return tr;
  }

  function markButtons(c) {
    var box = el("div", { className: "campaign-marks", role: "group", "aria-label": "mark " + c.id });
    Object.keys(MARKS).forEach(function (mark) {
      var b = el("button", { type: "button", className: "mark mark-" + mark, "data-mark": mark,
        title: mark === "share_template" ? "A share button's text (a headline with its link), not a campaign" :
          mark === "organic" ? "Many people saying the same thing on their own" : "Accounts pushing this text together" },
        MARK_WORDS[mark]);
      b.addEventListener("click", function () {
        var d = marks.get(c);
        marks.put(c, d && d.mark === mark ? null : mark);
        paintMarks(c);
        showCount();
        api.exportChanged();
      });
      box.appendChild(b);
    });
    return box;
  }

  function paintMarks(c) {
    var article = $("campaign-" + c.id);
    if (!article) return;
    var d = marks.get(c);
    article.setAttribute("data-mark", d ? d.mark : "");
    article.querySelectorAll("button.mark").forEach(function (b) {
      b.setAttribute("aria-pressed", d && d.mark === b.getAttribute("data-mark") ? "true" : "false");
    });
  }

  function describe(c) {
    var parts = [c.posts.toLocaleString() + " posts", c.accounts.toLocaleString() + " accounts",
      c.texts.toLocaleString() + " distinct text" + (c.texts === 1 ? "" : "s")];
    if (c.first) parts.push(c.first === c.last ? c.first : c.first + " – " + c.last);
    var unit = c.time_unit === "day" ? " days" : " s";
    if (c.span !== null) parts.push("span " + c.span.toLocaleString() + unit);
    if (c.median_gap !== null) parts.push("median gap " + c.median_gap + unit);
    if (c.fast_pairs !== null) parts.push(c.fast_pairs.toLocaleString() + " fast pairs");
    if (c.median_p_wire !== null) parts.push("median p_wire " + fmt(c.median_p_wire, 2));
    parts.push(Math.round(100 * c.url_share) + "% with a link");
    return parts.join(" · ");
  }

  function campaignNode(c) {
    var article = el("article", { className: "campaign kind-" + c.kind, id: "campaign-" + c.id, "data-campaign": c.id,
      "data-kind": c.kind, tabindex: "-1" });
    var head = el("h3");
    head.appendChild(document.createTextNode(c.id + " "));
    head.appendChild(el("span", { className: "kind" }, c.kind === "share_template" ? "likely share template" : "copypasta"));
    article.appendChild(head);
    article.appendChild(el("p", { className: "meta campaign-meta" }, describe(c)));
    if (c.top_techniques) article.appendChild(el("p", { className: "meta campaign-techniques" }, "techniques: " + c.top_techniques));
    article.appendChild(markButtons(c));
    var table = el("table", { className: "campaign-posts" });
    var head2 = el("thead");
    var tr = el("tr");
    ["#", "account", "time", "similarity", "p_wire", "text (differences from the first post marked)"].forEach(function (name) {
      tr.appendChild(el("th", null, name));
    });
    head2.appendChild(tr);
    table.appendChild(head2);
    var body = el("tbody");
    c.posts_rows.forEach(function (post, i) { body.appendChild(postRow(c, post, i + 1)); });
    table.appendChild(body);
    var scroll = el("div", { className: "scroll" });
    scroll.appendChild(table);
    article.appendChild(scroll);
    if (c.posts > c.posts_rows.length) {
      article.appendChild(el("p", { className: "meta campaign-more" }, (c.posts - c.posts_rows.length).toLocaleString() +
        " more posts of this campaign are in the campaign files (<stem>.campaigns.csv)."));
    }
    return article;
  }

  function selection() {
    return CAMPAIGNS.filter(function (c) {
      if (state.kind && c.kind !== state.kind) return false;
      if (state.mark) {
        var d = marks.get(c);
        if (state.mark === "unmarked" ? !!d : !d || d.mark !== state.mark) return false;
      }
      return true;
    });
  }

  function pager(box, pages) {
    api.pager(box, state.page, pages, function (page) { state.page = page; draw(); $("campaigns").scrollIntoView(); });
  }

  function draw() {
    var items = selection();
    var pages = Math.max(1, Math.ceil(items.length / state.pageSize));
    state.page = Math.max(0, Math.min(state.page, pages - 1));
    var list = $("campaign-list");
    list.textContent = "";
    items.slice(state.page * state.pageSize, (state.page + 1) * state.pageSize).forEach(function (c) {
      list.appendChild(campaignNode(c));
      paintMarks(c);
    });
    $("campaign-no-match").hidden = items.length > 0;
    pager($("campaign-pager-top"), pages);
    pager($("campaign-pager-bottom"), pages);
    showCount();
  }

  function showCount() {
    var n = marks.items.size;
    $("campaign-marks").textContent = n + " campaign" + (n === 1 ? "" : "s") + " marked" +
      (marks.persistent ? "" : " (cannot be saved in this browser: export before closing)");
  }

  /** Open a campaign in the view (filters cleared, its page shown) and bring it into sight. */
  function showCampaign(id) {
    var c = BY_ID.get(id);
    if (!c) return;
    state.kind = ""; state.mark = "";
    $("c-kind").value = ""; $("c-mark").value = "";
    state.page = Math.floor(c.index / state.pageSize);
    draw();
    document.querySelectorAll("article.campaign.target").forEach(function (a) { a.classList.remove("target"); });
    var article = $("campaign-" + id);
    article.classList.add("target");
    article.scrollIntoView();
    article.focus({ preventScroll: true });
  }

  function rowTool(row) {
    var id = DATA.segments[row.id];
    if (!id) return null;
    if (!BY_ID.has(id)) {
      return el("span", { className: "campaign-link small", "data-campaign": id,
        title: "Beyond the campaigns this view shows: see the campaign files" }, "campaign " + id);
    }
    var b = el("button", { type: "button", className: "campaign-link", "data-campaign": id,
      title: "Show the campaign this post belongs to" }, "campaign " + id);
    b.addEventListener("click", function () { showCampaign(id); });
    return b;
  }

  function init(viewApi) {
    api = viewApi;
    api.showCampaign = showCampaign; // other views link to a campaign through it (the Accounts view)
    marks.init(api);
    $("campaign-controls").hidden = false;
    $("c-kind").addEventListener("change", function () { state.kind = $("c-kind").value; state.page = 0; draw(); });
    $("c-mark").addEventListener("change", function () { state.mark = $("c-mark").value; state.page = 0; draw(); });
    $("c-pagesize").addEventListener("change", function () {
      state.pageSize = parseInt($("c-pagesize").value, 10) || 10; state.page = 0; draw();
    });
    window.addEventListener("storage", function (event) {
      if (event.storageArea !== window.localStorage) return;
      if (event.key === null) { marks.load(); draw(); api.exportChanged(); return; }
      var c = marks.external(event);
      if (c) { paintMarks(c); showCount(); api.exportChanged(); }
    });
    api.addRowTool(rowTool);
    api.addExport({ count: function () { return marks.items.size; }, lines: function () { return exportLines(api); } });
    draw();
  }

  (window.postcredViews = window.postcredViews || []).push({ id: "campaigns", init: init });
})();
