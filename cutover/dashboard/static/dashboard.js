// cutover dashboard: refresh the figures and the charts from the JSON endpoints, without reloading the
// page (a reload would lose what someone is typing into a form, and make the charts flicker).
(function () {
  "use strict";
  var body = document.body;
  var refresh = Math.max(0.2, parseFloat(body.dataset.refresh || "5")) * 1000;
  var single = body.dataset.route || null;
  var plots = {};
  window.cutoverDashboard = { plots: plots };  // for a look from the browser's console (and the tests)
  var METRICS = {
    per_second: { scale: 1, digits: 2 },
    error_rate: { scale: 100, digits: 1 },
    p99: { scale: 1000, digits: 1 },
  };
  var SIZES = { small: [240, 72], large: [440, 240] };

  // The points drawn: only a bucket alone between two without requests (a line needs two).
  function isolated(u, seriesIdx) {
    var data = u.data[seriesIdx];
    var out = [];
    for (var i = 0; i < data.length; i++) {
      if (data[i] !== null && (i === 0 || data[i - 1] === null) && (i === data.length - 1 || data[i + 1] === null)) {
        out.push(i);
      }
    }
    return out;
  }

  function scaled(values, factor) {
    return values.map(function (v) { return v === null ? null : v * factor; });
  }

  function draw(series) {
    var charts = document.querySelectorAll("[data-chart]");
    for (var i = 0; i < charts.length; i++) {
      var el = charts[i];
      var data = series.routes[el.dataset.route];
      if (!data || typeof uPlot === "undefined") continue;
      var metric = METRICS[el.dataset.chart];
      var rows = [
        data.times,
        scaled(data[el.dataset.chart].legacy, metric.scale),
        scaled(data[el.dataset.chart].modern, metric.scale),
      ];
      var key = el.dataset.route + "|" + el.dataset.chart;
      if (plots[key]) {
        plots[key].setData(rows);
        continue;
      }
      var size = SIZES[el.dataset.size] || SIZES.small;
      var large = el.dataset.size === "large";
      var fmt = function (digits) {
        return function (u, v) { return v === null || v === undefined ? "-" : v.toFixed(digits); };
      }(metric.digits);
      plots[key] = new uPlot({
        width: size[0],
        height: size[1],
        legend: { show: large },
        cursor: { show: large },
        // From 0, and at least up to 1: an idle route's chart is a flat line at the bottom, not noise.
        scales: { x: { time: true }, y: { range: function (u, min, max) { return [0, Math.max(max || 0, 1)]; } } },
        axes: [
          { show: large, size: 30 },
          { size: large ? 50 : 40, font: "10px system-ui", ticks: { size: 3 },
            values: function (u, ticks) { return ticks.map(function (t) { return +t.toPrecision(3); }); } },
        ],
        series: [
          {},
          { label: "legacy", stroke: "#2b6cb0", width: 1.5, points: { show: true, size: 4, filter: isolated }, value: fmt },
          { label: "modern", stroke: "#c05621", width: 1.5, points: { show: true, size: 4, filter: isolated }, value: fmt },
        ],
      }, rows, el);
    }
  }

  function cells(overview) {
    for (var i = 0; i < overview.routes.length; i++) {
      var route = overview.routes[i];
      var scope = document.querySelectorAll('[data-route="' + route.id + '"] [data-cell]');
      for (var j = 0; j < scope.length; j++) {
        var text = route.cells[scope[j].dataset.cell];
        if (text !== undefined && scope[j].textContent !== text) scope[j].textContent = text;
      }
    }
  }

  function json(url) {
    return fetch(url, { credentials: "same-origin", cache: "no-store" }).then(function (r) {
      if (!r.ok) throw new Error(url + ": " + r.status);
      return r.json();
    });
  }

  var stamp = document.getElementById("refreshed");
  function tick() {
    var seriesUrl = "/api/series" + (single ? "?route=" + encodeURIComponent(single) : "");
    Promise.all([json("/api/routes"), json(seriesUrl)]).then(function (got) {
      cells(got[0]);
      draw(got[1]);
      if (stamp) stamp.textContent = "updated " + new Date().toLocaleTimeString();
      body.dataset.refreshes = String(parseInt(body.dataset.refreshes || "0", 10) + 1);
    }).catch(function (err) {
      if (stamp) stamp.textContent = "refresh failed: " + err.message;
    }).then(function () {
      window.setTimeout(tick, refresh);
    });
  }
  tick();
})();
