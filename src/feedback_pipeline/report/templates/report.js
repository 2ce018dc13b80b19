// feedback-pipeline PM report: draws the trend charts (dated x axis, counted y axis), applies the
// source / type filters, and sorts the summary table by the column whose heading is pressed.
// Data: {start: "YYYY-MM-DD", days: N, rows: [[theme_id, "YYYY-MM-DD", source, type, items]]}.
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  // Chart box (viewBox units): room on the left for counts, at the bottom for dates.
  var W = 560, H = 170, LEFT = 34, RIGHT = 12, TOP = 10, BOTTOM = 24;
  var X_TICKS = 5;
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                "Dec"];
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var sourceSelect = document.getElementById("filter-source");
  var typeSelect = document.getElementById("filter-type");
  var startMs = Date.parse(data.start + "T00:00:00Z");

  function dayIndex(day) {
    return Math.round((Date.parse(day + "T00:00:00Z") - startMs) / 86400000);
  }

  function dayLabel(index) {
    return new Date(startMs + index * 86400000).toISOString().slice(0, 10);
  }

  function shortDay(index) {
    var d = new Date(startMs + index * 86400000);
    return d.getUTCDate() + " " + MONTHS[d.getUTCMonth()];
  }

  function matches(source, type) {
    return (!sourceSelect || !sourceSelect.value || sourceSelect.value === source) &&
           (!typeSelect || !typeSelect.value || typeSelect.value === type);
  }

  // Per theme: matching items in total, and per day inside the chart window.
  function tally() {
    var out = {};
    data.rows.forEach(function (r) {
      if (!matches(r[2], r[3])) { return; }
      var t = out[r[0]] || (out[r[0]] = {total: 0, series: new Array(data.days).fill(0)});
      t.total += r[4];
      var i = dayIndex(r[1]);
      if (i >= 0 && i < data.days) { t.series[i] += r[4]; }
    });
    return out;
  }

  function el(name, attrs, text) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  // The day indexes that get a date label: both ends and evenly spaced ones between.
  function xTicks(days) {
    if (days === 1) { return [0]; }
    var ticks = [];
    var n = Math.min(X_TICKS, days);
    for (var k = 0; k < n; k += 1) {
      var i = Math.round(k * (days - 1) / (n - 1));
      if (ticks.indexOf(i) < 0) { ticks.push(i); }
    }
    return ticks;
  }

  // Whole-number counts for the y axis: 0, the peak, and the middle when there is room.
  function yTicks(peak) {
    var ticks = [0, peak];
    if (peak >= 4) { ticks.splice(1, 0, Math.round(peak / 2)); }
    return ticks;
  }

  function draw(svg, series) {
    while (svg.firstChild) { svg.removeChild(svg.firstChild); }
    var total = series.reduce(function (a, b) { return a + b; }, 0);
    var peak = Math.max.apply(null, series.concat([1]));
    var plotW = W - LEFT - RIGHT, plotH = H - TOP - BOTTOM, base = H - BOTTOM;
    var x = function (i) {
      return series.length > 1 ? LEFT + i * plotW / (series.length - 1) : LEFT + plotW / 2;
    };
    var y = function (n) { return base - plotH * n / peak; };
    yTicks(peak).forEach(function (n) {
      var at = y(n).toFixed(1);
      svg.appendChild(el("line", {"class": n ? "grid" : "axis x-axis", x1: LEFT, x2: W - RIGHT,
                                  y1: at, y2: at}));
      svg.appendChild(el("text", {"class": "tick tick-y", x: LEFT - 5, y: at, dy: "0.32em",
                                  "text-anchor": "end", "data-count": n}, String(n)));
    });
    svg.appendChild(el("line", {"class": "axis y-axis", x1: LEFT, x2: LEFT, y1: TOP, y2: base}));
    xTicks(series.length).forEach(function (i, k, all) {
      var anchor = all.length > 1 && k === 0 ? "start"
        : (all.length > 1 && k === all.length - 1 ? "end" : "middle");
      svg.appendChild(el("line", {"class": "axis", x1: x(i).toFixed(1), x2: x(i).toFixed(1),
                                  y1: base, y2: base + 4}));
      svg.appendChild(el("text", {"class": "tick tick-x", x: x(i).toFixed(1), y: H - 6,
                                  "text-anchor": anchor, "data-day": dayLabel(i)},
                         shortDay(i)));
    });
    var points = series.map(function (n, i) { return [x(i).toFixed(1), y(n).toFixed(1)]; });
    var line = "M" + points.map(function (p) { return p.join(","); }).join(" L");
    svg.appendChild(el("path", {"class": "area", d: line + " L" + points[points.length - 1][0] +
                                "," + base + " L" + points[0][0] + "," + base + " Z"}));
    svg.appendChild(el("path", {"class": "line", d: line}));
    var summary = total + " items from " + dayLabel(0) + " to " + dayLabel(series.length - 1) +
      ", at most " + (total ? peak : 0) + " a day";
    svg.appendChild(el("title", {}, summary));
    svg.setAttribute("aria-label", "items per day: " + summary);
    var caption = svg.parentNode.querySelector(".trend-caption");
    if (caption) {
      caption.textContent = "items per day, " + dayLabel(0) + " – " +
        dayLabel(series.length - 1) + " (peak " + (total ? peak : 0) + ")";
    }
  }

  function apply() {
    var counts = tally();
    var filtered = Boolean((sourceSelect && sourceSelect.value) ||
                           (typeSelect && typeSelect.value));
    var cards = document.querySelectorAll("article.theme");
    var shown = 0;
    cards.forEach(function (card) {
      var id = card.getAttribute("data-theme-id");
      var t = counts[id] || {total: 0, series: new Array(data.days).fill(0)};
      card.hidden = t.total === 0;
      if (!card.hidden) { shown += 1; }
      var match = card.querySelector(".match");
      match.hidden = !filtered;
      match.textContent = "· " + t.total + " matching the filter";
      draw(card.querySelector("svg.trend"), t.series);
      var visibleQuotes = 0;
      card.querySelectorAll("li.quote").forEach(function (q) {
        q.hidden = !matches(q.getAttribute("data-source"), q.getAttribute("data-type"));
        if (!q.hidden) { visibleQuotes += 1; }
      });
      var none = card.querySelector("li.no-quote");
      if (none) { none.hidden = visibleQuotes > 0; }
    });
    document.querySelectorAll(".flag li[data-theme-id], table.summary tr[data-theme-id]")
      .forEach(function (row) {
        row.hidden = !(counts[row.getAttribute("data-theme-id")] || {total: 0}).total;
      });
    var count = document.getElementById("shown-count");
    if (count) { count.textContent = shown + " of " + cards.length + " themes shown"; }
  }

  function compare(a, b, type) {
    if (a === b) { return 0; }
    if (a === "") { return 1; }  // empty cells (no Jira issue) last in either direction
    if (b === "") { return -1; }
    return type === "number" ? Number(a) - Number(b) : a.localeCompare(b);
  }

  function sortBy(table, th) {
    var heads = Array.prototype.slice.call(table.querySelectorAll("thead th[data-key]"));
    var col = heads.indexOf(th);
    var type = th.getAttribute("data-sort-type");
    var now = th.getAttribute("aria-sort");
    var dir = now === "ascending" ? "descending"
      : (now === "descending" ? "ascending" : th.getAttribute("data-first"));
    heads.forEach(function (h) { h.setAttribute("aria-sort", "none"); });
    th.setAttribute("aria-sort", dir);
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var key = function (row, i) { return row.cells[i].getAttribute("data-sort"); };
    rows.sort(function (a, b) {
      var ka = key(a, col), kb = key(b, col);
      var c = (ka === "" || kb === "") ? compare(ka, kb, type)
        : compare(ka, kb, type) * (dir === "descending" ? -1 : 1);
      return c || compare(key(a, 0), key(b, 0), "number");  // ties keep rank order
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }

  var summary = document.querySelector("table.summary");
  if (summary) {
    summary.querySelectorAll("thead th[data-key] button").forEach(function (button) {
      button.addEventListener("click", function () { sortBy(summary, button.parentNode); });
    });
  }
  if (sourceSelect) { sourceSelect.addEventListener("change", apply); }
  if (typeSelect) { typeSelect.addEventListener("change", apply); }
  apply();
}());
