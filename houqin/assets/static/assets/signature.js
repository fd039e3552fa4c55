/* Signatures drawn with a finger on the phone screen (借用、归还、补签).
 *
 * Each [data-signature-pad] block holds a <canvas>, a hidden input (id in data-input) and a clear button. The
 * vendored signature_pad (houqin/static/vendor/signature-pad) draws; after every stroke the PNG goes into the
 * hidden input as a data URL, which the server checks (PNG, size, not blank) and stores as an attachment.
 * On the lend page the borrower type switches between a member of the school and an outside person.
 */
(function () {
  "use strict";

  function setupPad(box) {
    var canvas = box.querySelector("canvas");
    var input = document.getElementById(box.getAttribute("data-input"));
    var ok = box.querySelector("[data-signature-ok]");
    var hint = box.querySelector("[data-signature-hint]");
    if (!canvas || !input || typeof SignaturePad === "undefined") { return; }
    var pad = new SignaturePad(canvas, {
      backgroundColor: "rgb(255, 255, 255)", penColor: "rgb(17, 24, 39)", minWidth: 1.2, maxWidth: 3.2
    });

    function showSigned(signed) {
      if (ok) { ok.classList.toggle("d-none", !signed); }
      if (hint) { hint.classList.toggle("d-none", signed); }
    }

    function resize() {
      var ratio = Math.max(window.devicePixelRatio || 1, 1);
      var strokes = pad.toData();
      canvas.width = canvas.offsetWidth * ratio;
      canvas.height = canvas.offsetHeight * ratio;
      canvas.getContext("2d").scale(ratio, ratio);
      pad.clear();
      if (strokes.length) { pad.fromData(strokes); }
    }

    pad.addEventListener("endStroke", function () {
      input.value = pad.isEmpty() ? "" : pad.toDataURL("image/png");
      showSigned(!pad.isEmpty());
    });
    var clear = box.querySelector("[data-signature-clear]");
    if (clear) {
      clear.addEventListener("click", function () { pad.clear(); input.value = ""; showSigned(false); });
    }
    window.addEventListener("resize", resize);
    resize();
    if (input.value) {
      // The page came back with an error: show the signature already given (it is still in the field).
      pad.fromDataURL(input.value, { width: canvas.offsetWidth, height: canvas.offsetHeight });
      showSigned(true);
    }
  }

  function setupBorrowerKind(form) {
    var radios = form.querySelectorAll("input[name='borrower_kind']");
    function update() {
      var kind = (form.querySelector("input[name='borrower_kind']:checked") || {}).value || "member";
      form.querySelectorAll("[data-borrower]").forEach(function (el) {
        el.classList.toggle("d-none", el.getAttribute("data-borrower") !== kind);
      });
    }
    radios.forEach(function (radio) { radio.addEventListener("change", update); });
    update();
  }

  document.querySelectorAll("[data-signature-pad]").forEach(setupPad);
  document.querySelectorAll("[data-lend-form]").forEach(setupBorrowerKind);
})();
