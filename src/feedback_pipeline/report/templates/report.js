// feedback-pipeline PM report: draws the trend charts and applies the source / type filters.
// Data: {start: "YYYY-MM-DD", days: N, rows: [[theme_id, "YYYY-MM-DD", source, type, items]]}.
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var W = 320, H = 90, PAD = 6;
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

  function matches(source, type) {
    return (!sourceSelect.value || sourceSelect.value === source) &&
           (!typeSelect.value || typeSelect.value === type);
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

  function el(name, attrs) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    return node;
  }

  function draw(svg, series) {
    while (svg.firstChild) { svg.removeChild(svg.firstChild); }
    var peak = Math.max.apply(null, series.concat([1]));
    var step = series.length > 1 ? (W - 2 * PAD) / (series.length - 1) : 0;
    var points = series.map(function (n, i) {
      var x = series.length > 1 ? PAD + i * step : W / 2;
      return [x.toFixed(1), (H - PAD - (H - 2 * PAD) * n / peak).toFixed(1)];
    });
    var line = "M" + points.map(function (p) { return p.join(","); }).join(" L");
    var base = (H - PAD).toFixed(1);
    svg.appendChild(el("line", {"class": "axis", x1: PAD, x2: W - PAD, y1: base, y2: base}));
    svg.appendChild(el("path", {"class": "area", d: line + " L" + points[points.length - 1][0] +
                                "," + base + " L" + points[0][0] + "," + base + " Z"}));
    svg.appendChild(el("path", {"class": "line", d: line}));
    var total = series.reduce(function (a, b) { return a + b; }, 0);
    var title = el("title", {});
    title.textContent = total + " items from " + dayLabel(0) + " to " +
      dayLabel(series.length - 1) + ", at most " + (total ? peak : 0) + " a day";
    svg.appendChild(title);
    var caption = svg.parentNode.querySelector(".trend-caption");
    if (caption) {
      caption.textContent = "items per day, " + dayLabel(0) + " – " +
        dayLabel(series.length - 1) + " (peak " + (total ? peak : 0) + ")";
    }
  }

  function apply() {
    var counts = tally();
    var filtered = Boolean(sourceSelect.value || typeSelect.value);
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
      card.querySelector("li.no-quote").hidden = visibleQuotes > 0;
    });
    document.querySelectorAll(".flag li[data-theme-id]").forEach(function (li) {
      li.hidden = !(counts[li.getAttribute("data-theme-id")] || {total: 0}).total;
    });
    document.getElementById("shown-count").textContent =
      shown + " of " + cards.length + " themes shown";
  }

  sourceSelect.addEventListener("change", apply);
  typeSelect.addEventListener("change", apply);
  apply();
}());
