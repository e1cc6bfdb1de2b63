(function () {
  "use strict";
  // Draws the report's figures when they come near the viewport: the headline figures from
  // their plotly JSON, Betti curves, barcodes, persistence diagrams and clouds from compact
  // data.
  // Every name in DATA was made plain text (plotly's pseudo-HTML escaped) by the writer.
  var DATA = JSON.parse(document.getElementById("tda-data").textContent);
  var CONFIG = { displaylogo: false, responsive: true, showLink: false };
  var COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];
  var DARK = ["#08306b", "#67000d", "#00441b", "#3f007d"];
  var VIRIDIS = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89",
                 "#35b779", "#6ece58", "#b5de2b", "#fde725"];
  var AXIS = "relative filtration value (fraction of diameter)";

  function viridis(t) {
    return VIRIDIS[Math.max(0, Math.min(VIRIDIS.length - 1, Math.round(t * (VIRIDIS.length - 1))))];
  }

  function draw(el, fig) {
    var layout = Object.assign({}, fig.layout || {});
    layout.template = DATA.template;
    el.setAttribute("data-drawn", "1");
    return Plotly.react(el, fig.data, layout, CONFIG);
  }

  function bettiFigure(key, dim) {
    var per = DATA.betti[key][dim] || [];
    var n = per.length;
    var traces = [];
    per.forEach(function (curve, c) {
      if (!curve) { return; }
      traces.push({
        type: "scatter", mode: "lines", x: DATA.grid, y: curve, name: DATA.labels[c],
        line: { shape: "hv", width: 1.5, color: viridis(n === 1 ? 0.5 : 0.9 * c / (n - 1)) },
        hovertemplate: "%{x:.3f}: %{y} bars<extra>%{fullData.name}</extra>"
      });
    });
    return {
      data: traces,
      layout: {
        height: 340, margin: { l: 50, r: 10, t: 10, b: 50 }, hovermode: "closest",
        showlegend: traces.length <= 12, legend: { orientation: "h", y: -0.3 },
        xaxis: { title: { text: AXIS }, range: [0, DATA.xmax] },
        yaxis: { title: { text: "H" + dim + " bars alive" }, rangemode: "tozero" }
      }
    };
  }

  function edgeOf(item) {
    var edge = 0;
    item.d.forEach(function (dm) {
      dm.b.forEach(function (b, i) { edge = Math.max(edge, dm.e[i] === null ? b : dm.e[i]); });
    });
    return edge > 0 ? edge : 1;
  }

  function hover(k) {
    return "H" + k + " bar<br>birth %{customdata[0]:.4g}<br>death %{customdata[1]}" +
      "<br>lifetime %{customdata[2]}<extra></extra>";
  }

  function barcodeFigure(item) {
    var edge = edgeOf(item), xinf = edge * 1.06, traces = [], row = 0;
    item.d.forEach(function (dm, k) {
      var parts = { plain: [[], [], []], sig: [[], [], []], inf: [[], [], [], []] };
      dm.b.forEach(function (b, i) {
        var y = row + i, e = dm.e[i];
        if (e === null) {
          var p = parts.inf;
          p[0].push(b, xinf, null); p[1].push(y, y, null);
          var cd = [b, "∞", "∞"]; p[2].push(cd, cd, cd); p[3].push(0, 11, 0);
        } else {
          var q = dm.s && dm.s[i] ? parts.sig : parts.plain;
          var life = Math.round((e - b) * 1e4) / 1e4;
          q[0].push(b, e, null); q[1].push(y, y, null);
          var cf = [b, e, life]; q[2].push(cf, cf, cf);
        }
      });
      row += dm.b.length + 1;
      var name = "H" + k + (dm.b.length < dm.m ? " (" + dm.b.length + " longest of " + dm.m + ")" : "");
      traces.push({
        type: "scatter", mode: "lines", x: parts.plain[0], y: parts.plain[1], name: name,
        legendgroup: "H" + k, line: { color: COLOURS[k % 4], width: 3 },
        customdata: parts.plain[2], hovertemplate: hover(k), connectgaps: false
      });
      if (parts.sig[0].length) {
        traces.push({
          type: "scatter", mode: "lines", x: parts.sig[0], y: parts.sig[1],
          name: "H" + k + " significant", legendgroup: "H" + k,
          line: { color: DARK[k % 4], width: 6 }, customdata: parts.sig[2],
          hovertemplate: "significant " + hover(k), connectgaps: false
        });
      }
      if (parts.inf[0].length) {
        traces.push({
          type: "scatter", mode: "lines+markers", x: parts.inf[0], y: parts.inf[1],
          name: "H" + k + " never dies", legendgroup: "H" + k,
          line: { color: COLOURS[k % 4], width: 3 },
          marker: { symbol: "triangle-right", size: parts.inf[3], color: COLOURS[k % 4] },
          customdata: parts.inf[2], hovertemplate: hover(k), connectgaps: false
        });
      }
    });
    return {
      data: traces,
      layout: {
        height: 400, margin: { l: 20, r: 20, t: 10, b: 50 }, hovermode: "closest",
        legend: { orientation: "h", y: -0.25 },
        xaxis: { title: { text: AXIS }, range: [0, edge * 1.12] },
        yaxis: { autorange: "reversed", showticklabels: false, showgrid: false, zeroline: false }
      }
    };
  }

  function diagramFigure(item) {
    var edge = edgeOf(item), yinf = edge * 1.06, traces = [];
    traces.push({
      type: "scatter", mode: "lines", x: [0, edge * 1.1], y: [0, edge * 1.1], name: "diagonal",
      line: { color: "#999", width: 1, dash: "dot" }, hoverinfo: "skip", showlegend: false
    });
    item.d.forEach(function (dm, k) {
      var parts = { plain: [[], [], []], sig: [[], [], []] };
      dm.b.forEach(function (b, i) {
        var e = dm.e[i];
        var q = dm.s && dm.s[i] ? parts.sig : parts.plain;
        q[0].push(b); q[1].push(e === null ? yinf : e);
        q[2].push([b, e === null ? "∞" : e, e === null ? "∞" : Math.round((e - b) * 1e4) / 1e4]);
      });
      [["plain", "H" + k, "circle", 7, COLOURS[k % 4]],
       ["sig", "H" + k + " significant", "star", 13, DARK[k % 4]]].forEach(function (spec) {
        var p = parts[spec[0]];
        if (!p[0].length && spec[0] === "sig") { return; }
        traces.push({
          type: "scatter", mode: "markers", x: p[0], y: p[1], name: spec[1], legendgroup: "H" + k,
          marker: { symbol: spec[2], size: spec[3], color: spec[4], opacity: 0.8 },
          customdata: p[2], hovertemplate: hover(k)
        });
      });
    });
    return {
      data: traces,
      layout: {
        height: 400, margin: { l: 50, r: 20, t: 10, b: 50 }, hovermode: "closest",
        legend: { orientation: "h", y: -0.25 },
        xaxis: { title: { text: "birth / diameter" }, range: [0, edge * 1.1] },
        yaxis: { title: { text: "death / diameter (top: never dies)" }, range: [0, edge * 1.1] }
      }
    };
  }

  var LOOPS = ["#d62728", "#ff7f0e", "#e377c2"];
  var CATEGORIES = ["#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#17becf", "#bcbd22",
                    "#7f7f7f", "#aec7e8", "#98df8a", "#c5b0d5"];

  function cloudFigure(item, axes) {
    // Labels (DATA.cloudLabels) are plain text made by the writer: shown, never parsed.
    var lab = DATA.cloudLabels[item.l];
    var marker = { size: 6, opacity: 0.7 };
    if (lab.v) {
      marker.color = lab.v;
      marker.colorscale = "Viridis";
      marker.showscale = true;
      marker.colorbar = { title: { text: DATA.cloudLabel }, thickness: 12 };
    } else {
      marker.color = lab.g.map(function (g) { return CATEGORIES[g % CATEGORIES.length]; });
    }
    var traces = [{
      type: "scatter", mode: "markers", x: item.x, y: item.y, text: lab.t, name: "points",
      marker: marker, hovertemplate: "%{text}<extra></extra>", showlegend: false
    }];
    item.cy.forEach(function (cycle, j) {
      var xs = [], ys = [], ts = [];
      cycle.concat(cycle.length ? [cycle[0]] : []).forEach(function (i) {
        xs.push(item.x[i]); ys.push(item.y[i]); ts.push(lab.t[i]);
      });
      var colour = LOOPS[j % LOOPS.length];
      traces.push({
        type: "scatter", mode: "lines+markers", x: xs, y: ys, text: ts,
        name: "loop " + (j + 1) + ": H1 bar " + item.cb[j][0] + " to " + item.cb[j][1],
        line: { color: colour, width: 2 },
        marker: { size: 12, color: colour, line: { color: "#000", width: 1.5 } },
        hovertemplate: "%{text}<extra>loop " + (j + 1) + "</extra>"
      });
    });
    return {
      data: traces,
      layout: {
        height: 460, margin: { l: 50, r: 10, t: 30, b: 50 }, hovermode: "closest",
        legend: { orientation: "h", y: -0.2 },
        xaxis: { title: { text: axes[0] }, zeroline: false },
        yaxis: { title: { text: axes[1] }, zeroline: false, scaleanchor: "x", scaleratio: 1 }
      }
    };
  }

  function stepButtons(panel, select, show) {
    panel.querySelectorAll("button[data-step]").forEach(function (button) {
      button.addEventListener("click", function () {
        var step = Number(button.getAttribute("data-step"));
        var i = select.selectedIndex + step;
        while (i >= 0 && i < select.options.length && select.options[i].disabled) { i += step; }
        if (i >= 0 && i < select.options.length) {
          select.selectedIndex = i;
          show();
        }
      });
    });
  }

  document.querySelectorAll("div.cloud-panel").forEach(function (panel) {
    var key = panel.getAttribute("data-cloud");
    var items = DATA.clouds[key];
    var select = panel.querySelector("select.checkpoint-select");
    var plot = panel.querySelector("div.plot");
    if (!items || !select || !plot) { return; }
    function show() {
      var i = Number(select.value);
      if (!items[i]) { return; }
      draw(plot, cloudFigure(items[i], DATA.cloudAxes[key]));
      plot.setAttribute("data-checkpoint-index", String(i));
      panel.querySelectorAll("div.cycles[data-cycles]").forEach(function (list) {
        list.hidden = list.getAttribute("data-cycles") !== String(i);
      });
    }
    plot.tdaShow = show;
    select.addEventListener("change", show);
    stepButtons(panel, select, show);
  });

  var panels = [];
  document.querySelectorAll("div.barcode-panel").forEach(function (panel) {
    var items = DATA.bars[panel.getAttribute("data-bars")];
    var select = panel.querySelector("select.checkpoint-select");
    var kind = panel.querySelector("select.kind-select");
    var plot = panel.querySelector("div.plot");
    if (!items || !select || !plot) { return; }
    function show() {
      var i = Number(select.value);
      if (!items[i]) { return; }
      var build = kind && kind.value === "diagram" ? diagramFigure : barcodeFigure;
      draw(plot, build(items[i]));
      plot.setAttribute("data-checkpoint-index", String(i));
      panel.querySelectorAll("p.note[data-note]").forEach(function (note) {
        note.hidden = note.getAttribute("data-note") !== String(i) || !note.textContent.trim();
      });
    }
    plot.tdaShow = show;
    select.addEventListener("change", show);
    if (kind) { kind.addEventListener("change", show); }
    stepButtons(panel, select, show);
    panels.push(plot);
  });

  function render(el) {
    if (el.getAttribute("data-drawn")) { return; }
    if (el.hasAttribute("data-fig")) {
      draw(el, DATA.figures[el.getAttribute("data-fig")]);
    } else if (el.hasAttribute("data-betti")) {
      draw(el, bettiFigure(el.getAttribute("data-betti"), Number(el.getAttribute("data-dim"))));
    } else if (el.tdaShow) {
      el.tdaShow();
    }
  }

  var plots = Array.prototype.slice.call(document.querySelectorAll("div.plot"));
  var near = window.innerHeight + 400;
  var observer = "IntersectionObserver" in window ? new IntersectionObserver(function (entries) {
    entries.forEach(function (entry) {
      if (entry.isIntersecting) {
        observer.unobserve(entry.target);
        render(entry.target);
      }
    });
  }, { rootMargin: "400px 0px" }) : null;
  plots.forEach(function (el) {
    var box = el.getBoundingClientRect();
    if (!observer || (box.height > 0 && box.top < near)) {
      render(el);
    } else {
      observer.observe(el);
    }
  });
  window.tdaReport = {
    drawAll: function () {
      document.querySelectorAll("details").forEach(function (d) { d.open = true; });
      plots.forEach(render);
    },
    drawn: function () { return document.querySelectorAll("div.plot[data-drawn]").length; },
    total: plots.length
  };
  document.body.setAttribute("data-ready", "1");
})();
