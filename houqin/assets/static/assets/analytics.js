// 资产分析: the report's charts (houqin/core/static/core/charts.js) from <script id="analytics-charts">.
houqinCharts("analytics-charts");
