// 资产盘点 — the counting pages: a keyboard-wedge scanner (a USB/Bluetooth scanner "types" the label's URL and
// presses Enter into the focused input) and camera scanning with the vendored qr-scanner library.
//
// qr-scanner 1.4 loads its decoding worker itself, with import("./qr-scanner-worker.min.js") relative to its own
// file (houqin/static/vendor/qr-scanner/): the worker must stay next to qr-scanner.umd.min.js. The old
// QrScanner.WORKER_PATH setting is ignored by this version (it only logs a warning), so it is not set here.
// Browsers open the camera only on a secure page (https, or http://localhost): elsewhere the page says so and the
// scanner input and the list remain.
(function () {
  "use strict";
  var root = document.querySelector("[data-stocktake-scan]");
  if (!root) return;
  var mode = root.getAttribute("data-stocktake-scan"); // "asset": scan items in a room; "room": pick the room
  var form = document.getElementById("scan-form");
  var input = document.getElementById("scan-code");
  var method = document.getElementById("scan-method");
  var finePointer = window.matchMedia && window.matchMedia("(pointer: fine)").matches;
  var busy = false;
  var lastCode = "";
  var lastTime = 0;

  // With a mouse and keyboard (a desk with a wedge scanner) the input keeps the focus; on phones the on-screen
  // keyboard would cover the page, so the focus is left alone.
  if (input && finePointer) input.focus();

  function submitCode(code, how) {
    var now = Date.now();
    if (busy || (code === lastCode && now - lastTime < 3000)) return; // the camera sees the same label many times
    lastCode = code;
    lastTime = now;
    input.value = code;
    if (method) method.value = how;
    if (form.requestSubmit) form.requestSubmit(); else form.submit();
  }

  // The camera hands its codes to the same path as the scanner input (also used by the browser tests, which have
  // no camera: they decode a label with QrScanner.scanImage and pass it here).
  window.houqinStocktake = {submit: submitCode};

  if (form && mode === "asset") {
    form.addEventListener("htmx:beforeRequest", function () { busy = true; });
    form.addEventListener("htmx:afterRequest", function () {
      busy = false;
      input.value = "";
      if (method) method.value = "wedge";
      if (finePointer) input.focus();
    });
  }

  // A short buzz tells a counter looking at the shelf, not the screen, how the scan went.
  document.body.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target.id !== "scan-result" || !navigator.vibrate) return;
    var result = event.detail.target.querySelector("[data-tone]");
    var tone = result ? result.getAttribute("data-tone") : "";
    try { navigator.vibrate(tone === "success" ? 60 : [90, 60, 90]); } catch (e) { /* not allowed: fine */ }
  });

  // --- Camera -----------------------------------------------------------------------------------------------
  var startButton = document.getElementById("camera-start");
  var stopButton = document.getElementById("camera-stop");
  var frame = document.getElementById("camera-frame");
  var video = document.getElementById("camera-video");
  var note = document.getElementById("camera-note");
  if (!startButton || !video) return;

  function say(text) {
    note.textContent = text;
    note.hidden = !text;
  }
  // What to do instead of the camera, in words for this page.
  var instead = mode === "room" ? "请用扫码枪扫描房间门口的二维码，或在下面的列表中点选房间。"
                                : "请用扫码枪、输入资产编号，或在清单中勾选。";

  if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    say("摄像头扫码需要用 https 地址（或在本机用 localhost）打开本页；当前地址不能使用摄像头。" + instead);
    return;
  }
  if (typeof window.QrScanner === "undefined") {
    say("扫码组件未能加载，请刷新页面。" + instead);
    return;
  }
  var scanner = null;

  window.QrScanner.hasCamera().then(function (has) {
    if (has) startButton.hidden = false;
    else say("没有找到摄像头。" + instead);
  });

  function stop() {
    if (scanner) scanner.stop();
    frame.classList.add("d-none");
    stopButton.hidden = true;
    startButton.hidden = false;
  }

  startButton.addEventListener("click", function () {
    if (!scanner) {
      scanner = new window.QrScanner(video, function (result) {
        var code = (result && result.data ? result.data : "").trim();
        if (!code) return;
        if (mode === "room") stop();
        submitCode(code, "camera");
      }, {returnDetailedScanResult: true, preferredCamera: "environment", highlightScanRegion: true,
          highlightCodeOutline: true, maxScansPerSecond: 8});
    }
    frame.classList.remove("d-none");
    say(mode === "room" ? "把房间门口的二维码放进取景框。"
                        : "把资产标签上的二维码放进取景框，手机振动或出现结果后即可扫下一个。");
    scanner.start().then(function () {
      startButton.hidden = true;
      stopButton.hidden = false;
    }).catch(function (error) {
      frame.classList.add("d-none");
      var denied = error && (error.name === "NotAllowedError" || /permission|denied/i.test(String(error)));
      say(denied ? "没有使用摄像头的权限：请在浏览器设置中允许本网站使用摄像头。"
                 : "无法打开摄像头（" + String(error) + "）。" + instead);
    });
  });
  stopButton.addEventListener("click", stop);
  // Release the camera when the page goes to the background (phones keep the light on otherwise).
  document.addEventListener("visibilitychange", function () {
    if (document.hidden && scanner) stop();
  });
})();
