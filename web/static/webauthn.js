// Cedula passkey ceremonies in the browser (WebAuthn Level 3).
//
// A <form class="ceremony" data-ceremony="login|register" data-begin=URL
// data-finish=URL> runs a ceremony when submitted: it POSTs {} to begin,
// passes the options to navigator.credentials.get/create, and POSTs the
// credential (in its JSON form, WebAuthn L3 §5.1.8/§5.1.9) with the form's
// named fields to finish. The server answers {redirect} or, on enrolment,
// {redirect, recoveryCodes}. Errors come back as RFC 9457 problem JSON whose
// title and detail are already in the page's language; they are shown in
// the page's alert region. On the login page a conditional request
// (mediation "conditional") offers passkeys in the autofill of the input
// with autocomplete="username webauthn"; the button is the fallback.
(function () {
  "use strict";

  function b64urlToBuf(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }

  function bufToB64url(buf) {
    var bytes = new Uint8Array(buf);
    var s = "";
    for (var i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  // WebAuthn L3 §5.4: binary members of the creation options arrive
  // base64url-encoded.
  function creationOptions(pk) {
    pk.challenge = b64urlToBuf(pk.challenge);
    pk.user.id = b64urlToBuf(pk.user.id);
    (pk.excludeCredentials || []).forEach(function (c) { c.id = b64urlToBuf(c.id); });
    return pk;
  }

  // WebAuthn L3 §5.5.
  function requestOptions(pk) {
    pk.challenge = b64urlToBuf(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) { c.id = b64urlToBuf(c.id); });
    return pk;
  }

  // RegistrationResponseJSON / AuthenticationResponseJSON (WebAuthn L3
  // §5.1.8, §5.1.9), built by hand so that older browsers without
  // PublicKeyCredential.toJSON() work too.
  function credentialJSON(cred) {
    var r = cred.response;
    var out = {
      id: cred.id,
      rawId: bufToB64url(cred.rawId),
      type: cred.type,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: { clientDataJSON: bufToB64url(r.clientDataJSON) }
    };
    if (cred.authenticatorAttachment) out.authenticatorAttachment = cred.authenticatorAttachment;
    if (r.attestationObject) {
      out.response.attestationObject = bufToB64url(r.attestationObject);
      if (r.getTransports) out.response.transports = r.getTransports();
      if (r.getAuthenticatorData) out.response.authenticatorData = bufToB64url(r.getAuthenticatorData());
      if (r.getPublicKey) {
        var key = r.getPublicKey();
        if (key) out.response.publicKey = bufToB64url(key);
      }
      if (r.getPublicKeyAlgorithm) out.response.publicKeyAlgorithm = r.getPublicKeyAlgorithm();
    } else {
      out.response.authenticatorData = bufToB64url(r.authenticatorData);
      out.response.signature = bufToB64url(r.signature);
      if (r.userHandle) out.response.userHandle = bufToB64url(r.userHandle);
    }
    return out;
  }

  function csrfToken() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.content : "";
  }

  // post sends JSON and returns the JSON answer; a problem answer becomes
  // a rejected promise carrying it.
  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrfToken() },
      body: JSON.stringify(body)
    }).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (data) {
        if (!res.ok) {
          var err = new Error(data.title || "HTTP " + res.status);
          err.problem = data;
          throw err;
        }
        return data;
      });
    });
  }

  var errorBox = null, statusBox = null;

  function setStatus(text) {
    if (statusBox) statusBox.textContent = text || "";
  }

  function clearError() {
    if (errorBox) errorBox.textContent = "";
  }

  // showError writes the message into the page's alert region (role=alert)
  // and moves focus there, so that it is read out and seen (WCAG 2.2 SC
  // 3.3.1, 4.1.3).
  function showError(err) {
    setStatus("");
    if (!errorBox) return;
    var d = errorBox.dataset;
    var title = d.title, message = d.generic, help = null;
    if (err && err.problem && (err.problem.detail || err.problem.title)) {
      title = err.problem.title || title;
      message = err.problem.detail || err.problem.title;
      if (err.problem.type && err.problem.type !== "about:blank") help = err.problem.type;
    } else if (err && err.name === "NotAllowedError") {
      message = d.cancelled; // cancelled, timed out, or no passkey chosen
    } else if (err && err.name === "InvalidStateError") {
      message = d.exists; // WebAuthn L3 §6.3.2 step 3: excluded credential
    } else if (err && (err.name === "NotSupportedError" || err.name === "SecurityError" || err.name === "unsupported")) {
      message = d.unsupported;
    }
    errorBox.textContent = "";
    var h = document.createElement("h2");
    h.textContent = title;
    var p = document.createElement("p");
    p.textContent = message;
    errorBox.appendChild(h);
    errorBox.appendChild(p);
    if (help) {
      var hp = document.createElement("p");
      var a = document.createElement("a");
      a.href = help;
      a.textContent = d.help;
      hp.appendChild(a);
      errorBox.appendChild(hp);
    }
    errorBox.focus();
  }

  function supported() {
    return !!(window.PublicKeyCredential && navigator.credentials);
  }

  function unsupported() {
    var e = new Error("unsupported");
    e.name = "unsupported";
    return e;
  }

  // fields collects the form's named inputs other than authRequestID: the
  // passkey name, the "remove my other passkeys" checkbox.
  function fields(form) {
    var out = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name) return;
      if (el.type === "checkbox") out[el.name] = el.checked;
      else if (el.type !== "submit") out[el.name] = el.value;
    });
    return out;
  }

  function busy(form, on) {
    var b = form.querySelector('button[type="submit"]');
    if (!b) return;
    if (on) b.setAttribute("aria-disabled", "true");
    else b.removeAttribute("aria-disabled");
  }

  function setupLogin(form) {
    var controller = null, restarts = 0;
    // Begins run one after another, so the ceremony cookie always names the
    // ceremony of the last request the page made.
    var queue = Promise.resolve();

    function begin() {
      var p = queue.then(function () { return post(form.dataset.begin, {}); });
      queue = p.catch(function () {});
      return p;
    }

    function run(conditional) {
      if (controller) controller.abort();
      var ctl = new AbortController();
      controller = ctl;
      var failedAt = "begin", rpId = window.location.hostname;
      return begin().then(function (opts) {
        if (ctl.signal.aborted) return null;
        rpId = opts.publicKey.rpId || rpId;
        var req = { publicKey: requestOptions(opts.publicKey), signal: ctl.signal };
        // Credential Management §2.3.2, WebAuthn L3 §5.1.4.1: offer the
        // passkeys in the input's autofill rather than in a dialog.
        if (conditional) req.mediation = "conditional";
        failedAt = "get";
        return navigator.credentials.get(req);
      }).then(function (cred) {
        if (!cred) return null;
        clearError();
        setStatus(statusBox && statusBox.dataset.working);
        failedAt = "finish";
        var body = fields(form);
        body.credential = credentialJSON(cred);
        return post(form.dataset.finish, body).catch(function (err) {
          // WebAuthn L3 §5.1.10: tell the authenticator a passkey the
          // server does not know, so it can stop offering it.
          if (err.problem && /unknown-passkey$/.test(err.problem.type || "") && PublicKeyCredential.signalUnknownCredential) {
            PublicKeyCredential.signalUnknownCredential({ rpId: rpId, credentialId: cred.id }).catch(function () {});
          }
          throw err;
        });
      }).then(function (res) {
        if (res && res.redirect) window.location.assign(res.redirect);
      }).catch(function (err) {
        if (ctl.signal.aborted || (err && err.name === "AbortError")) return;
        // A conditional request that ends without the citizen choosing a
        // passkey is no news to them.
        if (conditional && failedAt === "get") return;
        showError(err);
        // Offer the autofill again with a fresh challenge (a few times:
        // an automated authenticator answers at once, a person does not).
        if (failedAt === "finish" && restarts++ < 3) startConditional();
      });
    }

    function startConditional() {
      if (!supported() || !PublicKeyCredential.isConditionalMediationAvailable) return;
      PublicKeyCredential.isConditionalMediationAvailable().then(function (ok) {
        if (ok) run(true);
      }).catch(function () {});
    }

    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (!supported()) { showError(unsupported()); return; }
      clearError();
      setStatus(statusBox && statusBox.dataset.working);
      run(false);
    });
    startConditional();
  }

  function showCodes(form, codes, redirect) {
    var panel = document.getElementById(form.dataset.codes);
    if (!panel) { window.location.assign(redirect); return; }
    var list = panel.querySelector("ol");
    codes.forEach(function (c) {
      var li = document.createElement("li");
      var code = document.createElement("code");
      code.textContent = c;
      li.appendChild(code);
      list.appendChild(li);
    });
    var next = panel.querySelector("[data-continue]");
    if (next && redirect) next.href = redirect;
    form.hidden = true;
    panel.hidden = false;
    // The panel opens with the confirmation that the passkey exists; it
    // takes the focus, so that a screen reader reads it first.
    var first = panel.querySelector("[data-focus]") || panel.querySelector("h2");
    if (first) first.focus();
  }

  function setupRegister(form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (!supported()) { showError(unsupported()); return; }
      if (form.querySelector('button[aria-disabled="true"]')) return;
      clearError();
      busy(form, true);
      setStatus(statusBox && statusBox.dataset.working);
      post(form.dataset.begin, {}).then(function (opts) {
        return navigator.credentials.create({ publicKey: creationOptions(opts.publicKey) });
      }).then(function (cred) {
        var body = fields(form);
        body.credential = credentialJSON(cred);
        return post(form.dataset.finish, body);
      }).then(function (res) {
        setStatus("");
        if (res.recoveryCodes && res.recoveryCodes.length) showCodes(form, res.recoveryCodes, res.redirect);
        else if (res.redirect) window.location.assign(res.redirect);
      }).catch(showError).then(function () { busy(form, false); });
    });
  }

  function init() {
    errorBox = document.getElementById("ceremony-error");
    statusBox = document.getElementById("ceremony-status");
    document.querySelectorAll("form.ceremony").forEach(function (form) {
      if (form.dataset.ceremony === "login") setupLogin(form);
      else if (form.dataset.ceremony === "register") setupRegister(form);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
