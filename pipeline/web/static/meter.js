// A level meter per channel, drawn from the recorder's status (peak dBFS per channel, clipped flags).
"use strict";

const METER_FLOOR = -60; // dBFS at the left end of the bar

function drawMeters(box, status) {
  const levels = status ? status.levels : [];
  while (box.children.length > levels.length) box.lastChild.remove();
  while (box.children.length < levels.length) {
    const n = box.children.length + 1;
    box.append(el("div", { class: "meter" }, el("span", {}, `ch ${n}`),
      el("div", { class: "track" }, el("div", { class: "fill" })), el("span", { class: "db" }, "")));
  }
  levels.forEach((db, i) => {
    const m = box.children[i];
    const frac = Math.max(0, Math.min(1, (db - METER_FLOOR) / -METER_FLOOR));
    m.querySelector(".fill").style.width = `${(frac * 100).toFixed(1)}%`;
    m.querySelector(".db").textContent = db <= -119 ? "無音" : `${db.toFixed(0)} dB`;
    m.classList.toggle("clipped", !!status.clipped[i]);
  });
}

function clock(s) {
  s = Math.floor(s || 0);
  const p = (n) => String(n).padStart(2, "0");
  return `${p(Math.floor(s / 3600))}:${p(Math.floor(s / 60) % 60)}:${p(s % 60)}`;
}

function diskLeft(s) {
  if (s === null || s === undefined) return "—";
  if (s >= 3600) return `残り約${Math.floor(s / 3600)}時間${Math.floor(s / 60) % 60}分`;
  return `残り約${Math.floor(s / 60)}分`;
}

async function loadDevices(select, channels) {
  const data = await api("GET", "/api/devices");
  select.replaceChildren(...data.devices.map((d) => el("option", {
    value: String(d.index), "data-channels": String(d.channels),
    ...(d.is_default ? { selected: "selected" } : {}) }, `${d.index}: ${d.name}（${d.channels} ch）`)));
  const fill = () => {
    const opt = select.selectedOptions[0];
    const max = opt ? Math.min(64, Number(opt.dataset.channels)) : 2;
    channels.replaceChildren(el("option", { value: "" }, "自動"),
      ...Array.from({ length: max }, (_, i) => el("option", { value: String(i + 1) }, String(i + 1))));
  };
  select.addEventListener("change", fill);
  fill();
}
