/* postcred report, the Accounts view: every account of the dump, sortable, paged and
 * collapsed; an opened account draws its charts (inline SVG) and links to its segments
 * and campaigns.
 *
 * Account names, handles, techniques and campaign ids are untrusted: they reach the page
 * only through textContent, setAttribute and createElementNS, never as markup.  The data
 * is the JSON block #accounts-data (see classifier/report_accounts.py for its fields).
 *
 * A campaign link points at #campaign-<id> (the element a campaigns view gives each
 * campaign) and, when a view offers api.showCampaign(id), calls it.
 */
(function () {
  "use strict";

  var block = document.getElementById("accounts-data");
  if (!block) return;
  var DATA = JSON.parse(block.textContent);
  var SVG = "http://www.w3.org/2000/svg";
  var PAGE_SIZE = 25;
  var WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
  var ACCOUNTS = DATA.accounts.map(function (values, index) {
    var account = { index: index };
    DATA.fields.forEach(function (name, i) { account[name] = values[i]; });
    account.techniqueCount = account.techniques.reduce(function (sum, t) { return sum + t[1]; }, 0);
    return account;
  });
  DATA.accounts = null;

  var state = { search: "", sort: "posts", asc: false, changed: false, bursty: false, page: 0, open: new Set() };
  var collator = new Intl.Collator("ja");

  function $(id) { return document.getElementById(id); }

  function num(value) { return value === null || value === undefined ? null : value; }

  /* Sort keys: larger first unless "ascending"; accounts without a value go last. */
  var SORTS = {
    posts: function (a) { return a.posts; },
    share: function (a) { return num(a.share); },
    change: function (a) { return num(a.change); },
    bursts: function (a) { return a.bursts; },
    techniques: function (a) { return num(a.marker_share); }
  };

  function normalize(text) { return String(text).normalize("NFKC").toLowerCase(); }

  function selection() {
    var term = normalize(state.search.trim());
    var key = SORTS[state.sort] || SORTS.posts;
    var sign = state.asc ? 1 : -1;
    var out = ACCOUNTS.filter(function (a) {
      if (state.changed && !a.changed) return false;
      if (state.bursty && !a.bursts) return false;
      if (term && normalize(a.handle + "\n" + a.name).indexOf(term) < 0) return false;
      return true;
    });
    out.sort(function (a, b) {
      var x = key(a), y = key(b);
      if (x === null || y === null) return (x === null) - (y === null) || a.index - b.index;
      return sign * (x - y) || collator.compare(a.handle, b.handle);
    });
    return out;
  }

  function svg(tag, attrs, text) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attrs || {}).forEach(function (name) { node.setAttribute(name, attrs[name]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function titled(node, text) { node.appendChild(svg("title", null, text)); return node; }

  function pct(x) { return x === null || x === undefined ? "–" : Math.round(100 * x) + "%"; }

  function dayName(first, offset) {
    var d = new Date(first + "T00:00:00Z");
    d.setUTCDate(d.getUTCDate() + offset);
    return d.toISOString().slice(0, 10);
  }

  /* ------------------------------------------------------------ charts */

  /** Posts per day (bars; burst days orange with a mark) and the day's partisan share (dots). */
  function dailyChart(api, a) {
    var days = [];
    for (var i = 0; i < a.days.length; i += 4) days.push({ at: a.days[i], posts: a.days[i + 1], partisan: a.days[i + 2], burst: a.days[i + 3] });
    var figure = api.el("figure", { className: "account-daily" });
    figure.appendChild(api.el("figcaption", null, "Posts per day (bars; bursts in orange, marked ▲) and partisan share (red dots, right axis)"));
    if (!days.length) { figure.appendChild(api.el("p", { className: "empty" }, "No dated posts.")); return figure; }
    var span = days[days.length - 1].at + 1;
    var left = 40, right = 40, top = 14, height = 120, width = Math.max(240, Math.min(760, span * 12));
    var step = width / span, bar = Math.max(1, Math.min(step - 1, 14));
    var most = Math.max.apply(null, days.map(function (d) { return d.posts; }));
    var chart = svg("svg", { "class": "chart", role: "img", width: left + width + right, height: top + height + 24,
      viewBox: "0 0 " + (left + width + right) + " " + (top + height + 24), "aria-label": "posts and partisan share per day" });
    chart.appendChild(svg("line", { x1: left, x2: left + width, y1: top + height, y2: top + height, stroke: "#999" }));
    chart.appendChild(svg("line", { x1: left, x2: left + width, y1: top + height / 2, y2: top + height / 2, stroke: "#ddd", "stroke-dasharray": "3 3" }));
    chart.appendChild(svg("text", { x: left - 4, y: top + 4, "text-anchor": "end", "font-size": 10 }, String(most)));
    chart.appendChild(svg("text", { x: left - 4, y: top + height, "text-anchor": "end", "font-size": 10 }, "0"));
    chart.appendChild(svg("text", { x: left + width + 4, y: top + 4, "font-size": 10, fill: "#a12828" }, "100%"));
    chart.appendChild(svg("text", { x: left + width + 4, y: top + height / 2 + 4, "font-size": 10, fill: "#a12828" }, "50%"));
    chart.appendChild(svg("text", { x: left, y: top + height + 16, "font-size": 10 }, a.first));
    chart.appendChild(svg("text", { x: left + width, y: top + height + 16, "font-size": 10, "text-anchor": "end" }, a.last));
    days.forEach(function (d) {
      var x = left + d.at * step + (step - bar) / 2;
      var h = Math.max(1, height * d.posts / most);
      var date = dayName(a.first, d.at);
      var share = d.partisan / d.posts;
      var label = date + ": " + d.posts + " post" + (d.posts === 1 ? "" : "s") + ", partisan " + pct(share) + (d.burst ? ", burst" : "");
      var rect = titled(svg("rect", { "class": d.burst ? "day-bar burst" : "day-bar", x: x.toFixed(1), y: (top + height - h).toFixed(1),
        width: bar.toFixed(1), height: h.toFixed(1), fill: d.burst ? "#e08a1e" : "#9bb3cf", "data-date": date, "data-posts": d.posts }), label);
      chart.appendChild(rect);
      if (d.burst) chart.appendChild(titled(svg("text", { "class": "burst-mark", x: (x + bar / 2).toFixed(1), y: (top + height - h - 2).toFixed(1),
        "text-anchor": "middle", "font-size": 10, fill: "#b5650d" }, "▲"), label));
      chart.appendChild(titled(svg("circle", { "class": "day-share", cx: (x + bar / 2).toFixed(1), cy: (top + height * (1 - share)).toFixed(1),
        r: 2.5, fill: "#c0504d" }), label));
    });
    figure.appendChild(chart);
    return figure;
  }

  /** Posts per hour and weekday, in the dump's time zone. */
  function heatmap(api, a) {
    var figure = api.el("figure", { className: "account-heat" });
    figure.appendChild(api.el("figcaption", null, "Posts by hour and weekday (" + DATA.tz + ")"));
    if (!a.heat.length) {
      figure.appendChild(api.el("p", { className: "empty" }, DATA.day_only ? "Day-only dates: the dump gives no times." : "No post of this account has a time."));
      return figure;
    }
    var counts = new Map(), most = 1;
    for (var i = 0; i < a.heat.length; i += 2) { counts.set(a.heat[i], a.heat[i + 1]); most = Math.max(most, a.heat[i + 1]); }
    var cell = 14, left = 34, top = 14;
    var chart = svg("svg", { "class": "chart", role: "img", width: left + 24 * cell + 4, height: top + 7 * cell + 4,
      viewBox: "0 0 " + (left + 24 * cell + 4) + " " + (top + 7 * cell + 4), "aria-label": "posts by hour and weekday" });
    [0, 6, 12, 18].forEach(function (h) { chart.appendChild(svg("text", { x: left + h * cell, y: top - 3, "font-size": 10 }, String(h))); });
    WEEKDAYS.forEach(function (name, w) {
      chart.appendChild(svg("text", { x: left - 4, y: top + w * cell + 11, "text-anchor": "end", "font-size": 10 }, name));
      for (var h = 0; h < 24; h++) {
        var n = counts.get(w * 24 + h) || 0;
        chart.appendChild(titled(svg("rect", { "class": "heat-cell", x: left + h * cell, y: top + w * cell, width: cell - 1, height: cell - 1,
          fill: n ? "rgba(47, 111, 181, " + (0.15 + 0.85 * n / most).toFixed(2) + ")" : "#f3f3f5", "data-count": n }),
          name + " " + (h < 10 ? "0" : "") + h + ":00: " + n + " post" + (n === 1 ? "" : "s")));
      }
    });
    figure.appendChild(chart);
    return figure;
  }

  /** The account's technique counts as bars. */
  function techniqueBars(api, a) {
    var figure = api.el("figure", { className: "account-techniques" });
    figure.appendChild(api.el("figcaption", null, "Techniques in its posts"));
    if (!a.techniques.length) { figure.appendChild(api.el("p", { className: "empty" }, "No marker fired in its posts.")); return figure; }
    var row = 18, left = 190, width = 200, most = a.techniques[0][1];
    var chart = svg("svg", { "class": "chart", role: "img", width: left + width + 50, height: a.techniques.length * row + 4,
      viewBox: "0 0 " + (left + width + 50) + " " + (a.techniques.length * row + 4), "aria-label": "technique counts" });
    a.techniques.forEach(function (t, i) {
      var g = svg("g", { "class": "technique-bar", "data-technique": t[0], "data-count": t[1] });
      g.appendChild(svg("text", { x: left - 6, y: i * row + 13, "text-anchor": "end", "font-size": 11 }, t[0]));
      g.appendChild(titled(svg("rect", { x: left, y: i * row + 3, width: (width * t[1] / most).toFixed(1), height: row - 6,
        fill: t[0] === "Sourcing" ? "#2f8a5c" : "#8a5cb8" }), t[0] + ": " + t[1]));
      g.appendChild(svg("text", { x: left + width * t[1] / most + 6, y: i * row + 13, "font-size": 11 }, String(t[1])));
      chart.appendChild(g);
    });
    figure.appendChild(chart);
    return figure;
  }

  function links(api, a) {
    var box = api.el("div", { className: "account-links" });
    var inReport = api.rows.reduce(function (n, row) { return n + (api.accountKey(row) === a.handle ? 1 : 0); }, 0);
    var show = api.el("button", { type: "button", className: "show-segments" },
      "Show its " + inReport.toLocaleString() + " segment" + (inReport === 1 ? "" : "s") + " in the list");
    show.disabled = !inReport;
    show.addEventListener("click", function () { api.showSegments({ handle: a.handle }); });
    box.appendChild(show);
    if (a.campaigns.length) {
      box.appendChild(document.createTextNode(" Campaigns: "));
      a.campaigns.forEach(function (id, i) {
        if (i) box.appendChild(document.createTextNode(", "));
        var link = api.el("a", { className: "campaign-link", href: "#campaign-" + id }, "campaign " + id);
        link.setAttribute("data-campaign", id);
        link.addEventListener("click", function (event) {
          if (typeof api.showCampaign === "function") { event.preventDefault(); api.showCampaign(id); }
        });
        box.appendChild(link);
      });
    } else {
      box.appendChild(api.el("span", { className: "small" }, " No campaign of this run includes it."));
    }
    return box;
  }

  function detail(api, a) {
    var td = api.el("td", { className: "account-detail-cell" });
    td.setAttribute("colspan", "6");
    var facts = [a.posts.toLocaleString() + " posts, " + a.segments.toLocaleString() + " segments",
      a.first ? a.first + " – " + a.last + " (" + a.active_days + " active days)" : "no dated posts",
      "mean p_wire " + (a.mean_p_wire === null ? "–" : a.mean_p_wire.toFixed(2)),
      "trend " + (a.trend === null ? "–" : (a.trend > 0 ? "+" : "") + (100 * a.trend).toFixed(1) + " points of partisan share a week")];
    td.appendChild(api.el("p", { className: "small" }, facts.join(" · ")));
    var charts = api.el("div", { className: "cols" });
    charts.appendChild(dailyChart(api, a));
    charts.appendChild(heatmap(api, a));
    charts.appendChild(techniqueBars(api, a));
    td.appendChild(charts);
    td.appendChild(links(api, a));
    var tr = api.el("tr", { className: "account-detail" });
    tr.appendChild(td);
    return tr;
  }

  function accountRow(api, a) {
    var tr = api.el("tr", { className: "account" + (a.changed ? " changed" : "") });
    tr.setAttribute("data-handle", a.handle);
    var who = api.el("td", { className: "acct" });
    var toggle = api.el("button", { type: "button", className: "open-account" });
    toggle.setAttribute("aria-expanded", state.open.has(a.handle) ? "true" : "false");
    toggle.appendChild(document.createTextNode(state.open.has(a.handle) ? "▾ " : "▸ "));
    toggle.appendChild(api.bdi(a.name || a.handle));
    who.appendChild(toggle);
    if (a.name && a.name !== a.handle) {
      var handle = api.el("div", { className: "small" }, "@");
      handle.appendChild(api.bdi(a.handle));
      who.appendChild(handle);
    }
    tr.appendChild(who);
    tr.appendChild(api.el("td", { className: "num" }, a.posts.toLocaleString()));
    tr.appendChild(api.el("td", { className: "num" }, pct(a.share) + (a.low === null ? "" : " (" + pct(a.low) + "–" + pct(a.high) + ")")));
    var change = a.change === null ? "–" : (a.change > 0 ? "+" : "") + Math.round(100 * a.change) + " pts";
    tr.appendChild(api.el("td", { className: "num" + (a.changed ? " flag" : "") }, change + (a.changed ? " changed" : "")));
    tr.appendChild(api.el("td", { className: "num" }, String(a.bursts)));
    var top = a.techniques.filter(function (t) { return t[0] !== "Sourcing"; }).slice(0, 3)
      .map(function (t) { return t[0] + " " + t[1]; }).join(", ");
    tr.appendChild(api.el("td", { className: "small" }, pct(a.marker_share) + (top ? ": " + top : "")));
    toggle.addEventListener("click", function () {
      if (state.open.has(a.handle)) state.open.delete(a.handle); else state.open.add(a.handle);
      draw(api);
    });
    return tr;
  }

  function pager(api, pages, total) {
    api.pager($("accounts-pager"), state.page, pages, function (page) { state.page = page; draw(api); }, {
      always: true, id: "accounts-count",
      note: " · " + total.toLocaleString() + " of " + ACCOUNTS.length.toLocaleString() + " accounts"
    });
  }

  function draw(api) {
    var list = selection();
    var pages = Math.max(1, Math.ceil(list.length / PAGE_SIZE));
    state.page = Math.max(0, Math.min(state.page, pages - 1));
    var tbody = $("account-rows");
    tbody.textContent = "";
    var frag = document.createDocumentFragment();
    list.slice(state.page * PAGE_SIZE, (state.page + 1) * PAGE_SIZE).forEach(function (a) {
      frag.appendChild(accountRow(api, a));
      if (state.open.has(a.handle)) frag.appendChild(detail(api, a));
    });
    tbody.appendChild(frag);
    pager(api, pages, list.length);
    document.querySelectorAll("#accounts-table th button.sort").forEach(function (b) {
      var active = b.getAttribute("data-sort") === state.sort;
      b.classList.toggle("active", active);
      b.classList.toggle("desc", active && !state.asc);
    });
  }

  function bind(api) {
    var redraw = function () { state.page = 0; draw(api); };
    $("a-search").addEventListener("input", function () { state.search = $("a-search").value; redraw(); });
    $("a-sort").addEventListener("change", function () { state.sort = $("a-sort").value; redraw(); });
    $("a-asc").addEventListener("change", function () { state.asc = $("a-asc").checked; redraw(); });
    $("a-changed").addEventListener("change", function () { state.changed = $("a-changed").checked; redraw(); });
    $("a-bursty").addEventListener("change", function () { state.bursty = $("a-bursty").checked; redraw(); });
    document.querySelectorAll("#accounts-table th button.sort").forEach(function (b) {
      b.addEventListener("click", function () {
        var key = b.getAttribute("data-sort");
        if (state.sort === key) state.asc = !state.asc; else { state.sort = key; state.asc = false; }
        $("a-sort").value = state.sort;
        $("a-asc").checked = state.asc;
        redraw();
      });
    });
  }

  (window.postcredViews = window.postcredViews || []).push({
    id: "accounts",
    init: function (api) {
      bind(api);
      $("accounts-controls").hidden = false;
      $("accounts-table").hidden = false;
      draw(api);
    }
  });
})();
