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
