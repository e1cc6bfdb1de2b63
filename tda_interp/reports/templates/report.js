(function () {
  "use strict";
  var DATA = JSON.parse(document.getElementById("tda-data").textContent);
  var CONFIG = { displaylogo: false, responsive: true, showLink: false };

  function draw(el, fig) {
    var layout = Object.assign({}, fig.layout || {});
    layout.template = DATA.template;
    return Plotly.react(el, fig.data, layout, CONFIG);
  }

  document.querySelectorAll("div.plot[data-fig]").forEach(function (el) {
    draw(el, DATA.figures[el.getAttribute("data-fig")]);
  });

  document.querySelectorAll("div.barcode-panel").forEach(function (panel) {
    var figs = DATA.barcodes[panel.getAttribute("data-barcodes")];
    var select = panel.querySelector("select");
    var plot = panel.querySelector("div.plot");
    if (!figs || !select || !plot) { return; }
    function show() {
      var i = Number(select.value);
      if (figs[i]) {
        draw(plot, figs[i]);
        plot.setAttribute("data-checkpoint-index", String(i));
      }
    }
    select.addEventListener("change", show);
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
    show();
  });
})();
