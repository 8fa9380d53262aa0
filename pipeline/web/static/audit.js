// The audit log page (admins): GET /api/audit with the filters, newest first.
"use strict";

function detailText(d) {
  return Object.entries(d || {}).filter(([, v]) => v !== null && v !== undefined && v !== "")
    .map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`).join(", ");
}

async function load() {
  const q = new URLSearchParams();
  for (const k of ["user", "meeting", "from", "to"]) if ($(`#${k}`).value.trim()) q.set(k, $(`#${k}`).value.trim());
  try {
    const data = await api("GET", `/api/audit?${q}`);
    const body = $("#entries tbody");
    body.replaceChildren(...data.entries.map((e) => el("tr", {},
      el("td", {}, e.at.replace("T", " ").slice(0, 19)), el("td", {}, e.user || "（なし）"),
      el("td", {}, e.action_label), el("td", {}, e.meeting !== null ? `会議 ${e.meeting}` : e.target),
      el("td", {}, detailText(e.detail)), el("td", {}, e.address || ""))));
    $("#empty").hidden = data.entries.length > 0;
    banner("");
  } catch (e) {
    banner(e.message, "error");
  }
}

$("#filter").addEventListener("submit", (ev) => { ev.preventDefault(); load(); });
load();
