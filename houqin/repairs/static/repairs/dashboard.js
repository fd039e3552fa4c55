// 维修看板: the dashboard's charts (houqin/core/static/core/charts.js) from <script id="dashboard-charts">.
houqinCharts("dashboard-charts");
