// The shared service's side of every page (kaigiroku server; harmless in the single-PC app):
// sends the session's CSRF token with each state-changing request, and shows who is logged in
// with a ログアウト button. Load it before the page's other scripts.
"use strict";

(() => {
  const token = () => {
    const m = document.cookie.match(/(?:^|;\s*)kaigiroku_csrf=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  };
  const changes = (method) => !["GET", "HEAD", "OPTIONS"].includes(String(method || "GET").toUpperCase());
  const sameSite = (url) => new URL(url, location.href).origin === location.origin;

  const fetch0 = window.fetch;
  window.fetch = (input, init) => {
    init = Object.assign({}, init);
    const method = init.method || (input instanceof Request ? input.method : "GET");
    const url = input instanceof Request ? input.url : String(input);
    if (token() && changes(method) && sameSite(url)) {
      const headers = new Headers(init.headers || (input instanceof Request ? input.headers : undefined));
      headers.set("X-CSRF-Token", token());
      init.headers = headers;
    }
    return fetch0(input, init);
  };

  const open0 = XMLHttpRequest.prototype.open, send0 = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.open = function (method, url, ...rest) {
    this._kaigirokuCsrf = changes(method) && sameSite(url);
    return open0.call(this, method, url, ...rest);
  };
  XMLHttpRequest.prototype.send = function (body) {
    if (this._kaigirokuCsrf && token()) this.setRequestHeader("X-CSRF-Token", token());
    return send0.call(this, body);
  };

  // who is logged in: only with accounts (the single-PC app has no /api/me and no CSRF cookie)
  window.addEventListener("DOMContentLoaded", async () => {
    if (!token()) return;
    const r = await fetch0("/api/me", { credentials: "same-origin" });
    if (!r.ok) return;
    const me = await r.json();
    const bar = document.querySelector("#bar .line") || document.querySelector("#bar") || document.body;
    const box = document.createElement("span");
    box.id = "account";
    box.style.cssText = "font-size:13px;color:#444;margin-left:12px";
    box.textContent = `${me.name}（${me.role_label}${me.body ? "・" + me.body : ""}）`;
    if (me.role === "admin") {
      const a = document.createElement("a");
      a.href = "/audit"; a.textContent = "監査ログ"; a.style.marginLeft = "8px";
      box.append(a);
    }
    const out = document.createElement("button");
    out.type = "button"; out.textContent = "ログアウト"; out.id = "logout"; out.style.marginLeft = "8px";
    out.addEventListener("click", async () => {
      await window.fetch("/logout", { method: "POST", credentials: "same-origin" });
      location.href = "/login";
    });
    box.append(out);
    bar.append(box);
  });
})();
