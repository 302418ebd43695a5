/* Dashboard charts (templates/reports/dashboard.html): the figures come as JSON in the
   <script type="application/json" id="dashboard-charts"> block (no inline script); each point's customdata is the
   URL of the rows behind it, followed on click. */
(function () {
  "use strict";

  function draw() {
    var source = document.getElementById("dashboard-charts");
    if (!source || typeof window.Plotly === "undefined") {
      return;
    }
    var charts = JSON.parse(source.textContent);
    charts.forEach(function (chart) {
      var element = document.getElementById(chart.id);
      if (!element) {
        return;
      }
      var config = { displaylogo: false, responsive: true, locale: document.documentElement.lang || "zh-CN" };
      window.Plotly.newPlot(element, chart.figure.data, chart.figure.layout, config).then(function () {
        element.setAttribute("data-ready", "true");
      });
      element.on("plotly_click", function (event) {
        var point = event && event.points && event.points[0];
        if (point && typeof point.customdata === "string" && point.customdata.charAt(0) === "/") {
          window.location.href = point.customdata;
        }
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
