// Charts of the reports and dashboards (资产分析, 维修看板…), drawn with the vendored ECharts (never a CDN) from the
// data a page embeds with json_script: houqinCharts("<id of that script>") draws every [data-chart="<key>"] element
// from spec[<key>] (types bar, hbar, line, pie; unit "元", "%" or a word). Every chart has its figures in a table
// beside it, so the page stays readable without JavaScript, in print and for screen readers.
window.houqinCharts = function (sourceId) {
  "use strict";
  var source = document.getElementById(sourceId);
  if (!source || typeof echarts === "undefined") return;
  var specs = JSON.parse(source.textContent);
  var charts = [];
  var palette = ["#206bc4", "#f76707", "#2fb344", "#d63939", "#ae3ec9", "#f59f00", "#17a2b8", "#667382",
                 "#74b816", "#4263eb", "#e8590c", "#0ca678"];

  function amount(value, unit) {
    if (value === null || value === undefined) return "—";
    if (unit === "%") return value.toFixed(1) + "%";
    if (unit === "元") {
      if (Math.abs(value) >= 100000000) return (value / 100000000).toFixed(2) + " 亿元";
      if (Math.abs(value) >= 10000) return (value / 10000).toFixed(1) + " 万元";
      return value.toLocaleString("zh-CN", {maximumFractionDigits: 2}) + " 元";
    }
    return value.toLocaleString("zh-CN") + (unit || "");
  }

  function axisLabel(unit) {
    return {formatter: function (v) {
      if (unit === "%") return v + "%";
      if (unit === "元" && Math.abs(v) >= 10000) return (v / 10000) + "万";
      return v;
    }};
  }

  function option(spec) {
    var unit = spec.unit;
    var tooltip = {trigger: spec.type === "pie" ? "item" : "axis", confine: true,
                   valueFormatter: function (v) { return amount(v, unit); }};
    if (spec.type === "pie") {
      return {color: palette, tooltip: tooltip, legend: {type: "scroll", bottom: 0},
              series: [{type: "pie", radius: ["35%", "65%"], data: spec.data,
                        label: {formatter: "{b}\n{d}%"}}]};
    }
    var horizontal = spec.type === "hbar";
    var category = {type: "category", data: spec.categories,
                    axisLabel: horizontal ? {width: 160, overflow: "truncate"} : {interval: 0, rotate: spec.categories.length > 6 ? 30 : 0,
                                                                                  width: 90, overflow: "truncate"}};
    var value = {type: "value", axisLabel: axisLabel(unit)};
    var series = spec.series.map(function (s) {
      if (spec.type === "line") {
        return {type: "line", name: s.name, data: s.data, smooth: false, symbolSize: 7, emphasis: {focus: "series"}};
      }
      return {type: "bar", name: s.name, data: s.data, stack: spec.stack ? "total" : undefined,
              barMaxWidth: 36, emphasis: {focus: "series"}};
    });
    return {
      color: palette,
      tooltip: tooltip,
      legend: spec.series.length > 1 ? {type: "scroll", top: 0} : undefined,
      grid: {left: 8, right: 24, top: spec.series.length > 1 ? 36 : 16, bottom: 8, containLabel: true},
      xAxis: horizontal ? value : category,
      yAxis: horizontal ? category : value,
      series: series
    };
  }

  function isEmpty(spec) {
    if (spec.type === "pie") return !spec.data.length;
    return !spec.categories.length;
  }

  document.querySelectorAll("[data-chart]").forEach(function (el) {
    var spec = specs[el.getAttribute("data-chart")];
    if (!spec) return;
    if (isEmpty(spec)) {
      el.style.height = "auto";
      el.className += " text-secondary text-center py-4";
      el.textContent = "暂无数据";
      return;
    }
    var chart = echarts.init(el, null, {renderer: "svg"});
    chart.setOption(option(spec));
    charts.push(chart);
  });

  function resize() { charts.forEach(function (c) { c.resize(); }); }
  window.addEventListener("resize", resize);
  window.addEventListener("beforeprint", resize);
  window.addEventListener("afterprint", resize);
};
