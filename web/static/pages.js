// Cedula pages: what the pages do in the browser besides the passkey
// ceremonies (webauthn.js).
//
// Recovery codes: a [data-codes-tools] group copies the codes listed in
// the same section (or in main), ol.codes, to the clipboard, or downloads
// them as a text file with one code a line. The group stays hidden without
// JavaScript, where the codes remain plain text to select and copy; every
// outcome is said in the [data-codes-status] region (role=status), so a
// screen reader announces it (WCAG 2.2 SC 4.1.3).
(function () {
  "use strict";

  function codesText(scope) {
    var lines = Array.prototype.map.call(scope.querySelectorAll("ol.codes code"), function (c) {
      return c.textContent.trim();
    });
    return lines.join("\n") + "\n";
  }

  // say writes text into a status region. The region is emptied first and
  // filled a moment later, so that the same message said twice (a second
  // copy) is announced twice.
  function say(region, text) {
    if (!region) return;
    region.textContent = "";
    window.setTimeout(function () { region.textContent = text; }, 100);
  }

  function download(text, filename) {
    var url = URL.createObjectURL(new Blob([text], { type: "text/plain;charset=utf-8" }));
    var a = document.createElement("a");
    a.href = url;
    a.download = filename;
    a.hidden = true;
    document.body.appendChild(a);
    a.click();
    document.body.removeChild(a);
    // Some browsers read the blob after the click returns.
    window.setTimeout(function () { URL.revokeObjectURL(url); }, 60000);
  }

  function setupCodes(tools) {
    var scope = tools.closest("section") || document.querySelector("main");
    var status = scope.querySelector("[data-codes-status]");
    var copy = tools.querySelector("[data-codes-copy]");
    var save = tools.querySelector("[data-codes-download]");
    // The Clipboard API needs a secure context; without it the button
    // would only ever fail, so it is not offered.
    if (copy && navigator.clipboard && navigator.clipboard.writeText) {
      copy.addEventListener("click", function () {
        navigator.clipboard.writeText(codesText(scope)).then(function () {
          say(status, status.dataset.copied);
        }, function () {
          say(status, status.dataset.copyFailed);
        });
      });
    } else if (copy) {
      copy.hidden = true;
    }
    if (save) {
      save.addEventListener("click", function () {
        download(codesText(scope), save.dataset.filename);
        say(status, status.dataset.downloaded);
      });
    }
    tools.hidden = false;
  }

  function init() {
    document.querySelectorAll("[data-codes-tools]").forEach(setupCodes);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
