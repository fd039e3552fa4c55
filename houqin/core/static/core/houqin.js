// 智慧后勤 — page behaviour shared by all pages.
(function () {
  "use strict";
  // Show a Chinese message when an HTMX request fails instead of silently doing nothing.
  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr.status;
    var text = status === 403 ? "您没有此操作的权限。" : status === 404 ? "记录不存在或您无权查看。" : "操作失败，请稍后重试。";
    var box = document.getElementById("messages");
    if (box) {
      var div = document.createElement("div");
      div.className = "alert alert-danger";
      div.setAttribute("role", "alert");
      div.textContent = text;
      box.appendChild(div);
    }
  });
  // Keep the export link (and the other links that act on the filtered list: print, labels, list actions
  // marked data-filtered-link) in step with the filters the list shows.
  function syncExport() {
    var q = new URLSearchParams(location.search);
    q.delete("cursor");
    var links = Array.from(document.querySelectorAll("#export-link, [data-filtered-link]"));
    links.forEach(function (a) { a.search = q.toString(); });
  }
  document.addEventListener("htmx:pushedIntoHistory", syncExport);
  document.addEventListener("htmx:historyRestore", syncExport);
  // Drop empty filter fields from HTMX GET requests so pushed URLs stay short and readable.
  document.addEventListener("htmx:configRequest", function (event) {
    if (event.detail.verb !== "get") return;
    var params = event.detail.parameters;
    var keys = params instanceof FormData ? Array.from(params.keys()) : Object.keys(params);
    keys.forEach(function (key) {
      var value = params instanceof FormData ? params.get(key) : params[key];
      if (value === "" || value === "unknown") {
        if (params instanceof FormData) params.delete(key); else delete params[key];
      }
    });
  });
  document.addEventListener("htmx:sendError", function () {
    var box = document.getElementById("messages");
    if (box) {
      var div = document.createElement("div");
      div.className = "alert alert-warning";
      div.textContent = "网络连接失败，请检查网络后重试。";
      box.appendChild(div);
    }
  });
})();
