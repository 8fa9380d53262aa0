// What every page of `kaigiroku app` shares: building elements, the banner, the JSON API
// (errors arrive as {"error": one Japanese line}) and uploads with progress. Pages load this
// first, then their own script.
"use strict";

const $ = (sel) => document.querySelector(sel);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

function banner(text, kind) {
  const b = $("#banner");
  b.hidden = !text;
  b.textContent = text || "";
  b.className = kind || "error";
}

async function api(method, path, body, type) {
  const opts = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    opts.body = body;
    if (type) opts.headers["Content-Type"] = type;
  }
  const r = await fetch(path, opts);
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
  if (!r.ok) throw new Error((data && data.error) || `エラー（${r.status}）`);
  return data;
}

function minutesLeft(s) {
  if (s === null || s === undefined) return "";
  return s < 60 ? "残り1分未満" : `残り約${Math.round(s / 60)}分`;
}

function upload(path, file, onprogress) {
  // XHR rather than fetch: an IC recorder's file is hundreds of MB, and the clerk wants to see it move
  return new Promise((resolve, reject) => {
    const x = new XMLHttpRequest();
    x.open("PUT", `${path}${path.includes("?") ? "&" : "?"}name=${encodeURIComponent(file.name)}`);
    if (file.type) x.setRequestHeader("Content-Type", file.type);
    x.upload.onprogress = (ev) => { if (ev.lengthComputable && onprogress) onprogress(ev.loaded / ev.total); };
    x.onload = () => {
      let data = null;
      try { data = JSON.parse(x.responseText); } catch (e) { data = null; }
      if (x.status >= 200 && x.status < 300) resolve(data);
      else reject(new Error((data && data.error) || `エラー（${x.status}）`));
    };
    x.onerror = () => reject(new Error("送信できませんでした。kaigiroku app が動いているか確認してください。"));
    x.send(file);
  });
}
