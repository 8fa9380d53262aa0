// 会議の準備: everything meeting.yaml holds, with the body's roster ticked as present.
// New: POST /api/meetings; edit (before the draft): PUT /api/meetings/{id}. The checks and their
// messages are the CLI's, from the server. Body and roster from /api/bodies (pipeline/web/roster.py).
"use strict";
// el, banner, api: common.js
const editMatch = location.pathname.match(/^\/meetings\/(\d+)\/edit/);
const meetingId = editMatch ? Number(editMatch[1]) : null;
const form = $("#meeting");
const f = form.elements;
let bodies = [];
let roles = [];
let rows = []; // {member, tr, present, name, role, title, label}
let rosterFor = null; // the body name whose roster is shown

const lines = (text) => text.split(/\r?\n/).map((s) => s.trim()).filter(Boolean);
const same = (a, b) => a.normalize("NFKC").split(/\s+/).join(" ").trim() === b.normalize("NFKC").split(/\s+/).join(" ").trim();

// ---- 日時: the printed line from the date and times (令和6年10月15日（火曜日） 14時00分から15時00分まで)

function wareki(d) {
  const y = d.getFullYear(), m = d.getMonth() + 1, day = d.getDate();
  const reiwa = y * 10000 + m * 100 + day >= 20190501;
  const n = reiwa ? y - 2018 : y - 1988;
  return `${reiwa ? "令和" : "平成"}${n === 1 ? "元" : n}年${m}月${day}日`;
}

const clock = (t) => { const [h, m] = t.split(":"); return `${Number(h)}時${m}分`; };

function composeDate() {
  if (!f.day.value) return;
  const [y, m, d] = f.day.value.split("-").map(Number);
  const day = new Date(y, m - 1, d);
  let text = `${wareki(day)}（${"日月火水木金土"[day.getDay()]}曜日）`;
  if (f.start.value) text += ` ${clock(f.start.value)}から`;
  if (f.end.value) text += `${f.start.value ? "" : " "}${clock(f.end.value)}まで`;
  f.date.value = text;
}
for (const name of ["day", "start", "end"]) f[name].addEventListener("change", composeDate);

// The next meeting usually follows the last one: 第2回 → 第3回, the same hours (the clerk checks
// both; the last meeting is shown beside them).
function nextSession(session) {
  const t = (session || "").normalize("NFKC");
  const m = t.match(/^(.*第)(\d+)(回.*)$/);
  return m ? `${m[1]}${Number(m[2]) + 1}${m[3]}` : "";
}

function lastTimes(date) {
  const t = (date || "").normalize("NFKC");
  const hm = (re) => { const m = t.match(re); return m ? `${m[1].padStart(2, "0")}:${m[2]}` : ""; };
  return { start: hm(/(\d{1,2})時(\d{2})分から/), end: hm(/(\d{1,2})時(\d{2})分まで/) };
}

// ---- participants

function roleSelect(chosen) {
  const s = el("select", { "aria-label": "役割" });
  for (const r of roles) {
    const o = el("option", { value: r }, r);
    if (r === chosen) o.selected = true;
    s.append(o);
  }
  return s;
}

function addRow(member, p, present) {
  const src = p || member || {};
  const row = {
    member,
    present: el("input", { type: "checkbox", "aria-label": "出席" }),
    name: el("input", { value: src.name || "", size: "12", "aria-label": "氏名" }),
    role: roleSelect(src.role || (member ? member.role : "説明者")),
    title: el("input", { value: src.title || "", size: "14", "aria-label": "職名" }),
    label: el("input", { value: src.label || "", size: "10", "aria-label": "表示名" }),
  };
  row.present.checked = present;
  if (member) row.name.readOnly = true; // the roster's name links the person to their voice
  const remove = member ? el("span", { class: "help" }, (member.active ? "名簿" : "名簿（退任）") +
    (member.voice && member.voice_consent ? "・声あり" : ""))
    : el("button", { type: "button", onclick: () => { rows = rows.filter((r) => r !== row); row.tr.remove(); } }, "×");
  row.tr = el("tr", { class: present ? "" : "absent" }, el("td", {}, row.present), el("td", {}, row.name),
    el("td", {}, row.role), el("td", {}, row.title), el("td", {}, row.label), el("td", {}, remove));
  row.present.addEventListener("change", () => row.tr.classList.toggle("absent", !row.present.checked));
  rows.push(row);
  $("#people tbody").append(row.tr);
  return row;
}

// The roster of `name` (a body of the list) as rows; guests typed so far are kept. `meeting`:
// an existing meeting's participants ticked, the others not.
async function showRoster(name, meeting) {
  const body = bodies.find((b) => same(b.name, name));
  const guests = rows.filter((r) => !r.member);
  rows = [];
  $("#people tbody").replaceChildren();
  rosterFor = body ? body.name : null;
  $("#body-note").textContent = !name ? "" : body ? `名簿 ${body.members}人` :
    "名簿にない附属機関です。保存すると、出席者を名簿として登録します。";
  $("#last").textContent = "";
  let members = [];
  if (body) {
    const b = await api("GET", `/api/bodies/${body.id}`);
    members = b.members;
    if (!meeting) {
      f.member_labels.value = b.member_labels;
      const last = b.last_meeting;
      if (last) {
        $("#last").textContent = `前回: ${last.session || ""} ${last.date || ""}`.trim();
        if (!f.session.value) f.session.value = nextSession(last.session);
        const times = lastTimes(last.date);
        if (!f.start.value && times.start) f.start.value = times.start;
        if (!f.end.value && times.end) f.end.value = times.end;
        composeDate();
        if (!f.place.value) f.place.value = last.place;
        if (!f.vocabulary.value) f.vocabulary.value = last.vocabulary.join("\n");
        if (!f.agenda.value) f.agenda.placeholder = last.agenda.join("\n");
      }
    }
  }
  const people = meeting ? meeting.participants : [];
  for (const m of members) {
    const p = people.find((x) => same(x.name, m.name));
    if (m.active || p) addRow(m, p, meeting ? !!p : true);
  }
  for (const p of people) if (!members.some((m) => same(m.name, p.name))) addRow(null, p, true);
  for (const g of guests) { rows.push(g); $("#people tbody").append(g.tr); }
  if (meeting) {
    const known = rows.map((r) => r.name.value);
    f.absent.value = meeting.absent.filter((a) => !known.some((k) => same(k, a))).join("\n");
  }
}

f.body.addEventListener("change", () => { if (f.body.value.trim() !== rosterFor) showRoster(f.body.value.trim()).catch((e) => banner(e.message)); });
$("#add-guest").addEventListener("click", () => addRow(null, null, true).name.focus());
$("#all-present").addEventListener("click", () => {
  for (const r of rows) { r.present.checked = true; r.tr.classList.remove("absent"); }
});

// ---- the meeting as meeting.yaml's fields

function collect() {
  const participants = [];
  const absent = [];
  for (const r of rows) {
    const name = r.name.value.trim();
    if (!name && !r.title.value.trim() && !r.label.value.trim()) continue; // an empty row
    if (!r.present.checked) { absent.push(name); continue; }
    const p = { name, role: r.role.value };
    if (r.title.value.trim()) p.title = r.title.value.trim();
    if (r.label.value.trim()) p.label = r.label.value.trim();
    participants.push(p);
  }
  for (const a of lines(f.absent.value)) if (!absent.includes(a)) absent.push(a);
  return {
    meeting: { body: f.body.value.trim(), session: f.session.value.trim(), date: f.date.value.trim(),
               place: f.place.value.trim(), agenda: lines(f.agenda.value), member_labels: f.member_labels.value },
    participants, absent, vocabulary: lines(f.vocabulary.value),
  };
}

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const data = JSON.stringify(collect());
  try {
    if (meetingId) await api("PUT", `/api/meetings/${meetingId}`, data, "application/json");
    else await api("POST", "/api/meetings", data, "application/json");
    location.href = "/";
  } catch (e) { banner(e.message); }
});

// ---- meeting.yaml in and out

$("#import").addEventListener("change", async (ev) => {
  const file = ev.target.files[0];
  if (!file) return;
  try {
    const text = await file.text();
    if (meetingId) {
      if (!confirm("この会議の内容を、読み込む meeting.yaml の内容で置き換えますか。")) return;
      await api("PUT", `/api/meetings/${meetingId}`, text, "application/yaml");
      await loadMeeting();
      banner("meeting.yaml を読み込みました。", "info");
    } else {
      const r = await api("POST", "/api/meetings", text, "application/yaml");
      location.href = `/meetings/${r.id}/edit?imported=1`;
    }
  } catch (e) { banner(e.message); }
  ev.target.value = "";
});

async function showLearning() {
  const l = await api("GET", `/api/meetings/${meetingId}/learning`);
  const items = [l.words, l.voices].filter(Boolean).flatMap((s) => s.lines);
  $("#learning").hidden = items.length === 0;
  $("#learning ul").replaceChildren(...items.map((t) => el("li", {}, t)));
}

async function loadMeeting() {
  const m = await api("GET", `/api/meetings/${meetingId}`);
  document.title = `会議の編集 — kaigiroku`;
  $("#title").textContent = `会議の編集: ${m.body} ${m.session}`.trim();
  for (const k of ["body", "session", "date", "place"]) f[k].value = m[k] || "";
  f.agenda.value = m.agenda.join("\n");
  f.vocabulary.value = m.vocabulary.join("\n");
  f.member_labels.value = m.member_labels;
  f.day.value = m.held_on || "";
  rows = [];
  await showRoster(m.body, m);
  const started = m.draft || m.jobs.some((j) => ["queued", "running", "done"].includes(j.state));
  $("#locked").hidden = !started;
  for (const e of form.elements) e.disabled = started;
  $("#import-label").textContent = "meeting.yaml を読み込んで置き換える";
  $("#import-box").hidden = started;
  $("#export-box").hidden = false;
  $("#export").href = `/api/meetings/${meetingId}/meeting.yaml`;
  $("#export").setAttribute("download", `meeting-${meetingId}.yaml`);
  await showLearning();
}

async function start() {
  try {
    const data = await api("GET", "/api/bodies");
    bodies = data.bodies;
    roles = data.roles;
    $("#body-list").replaceChildren(...bodies.map((b) => el("option", { value: b.name })));
    const params = new URLSearchParams(location.search);
    if (meetingId) {
      await loadMeeting();
      if (params.get("imported")) banner("meeting.yaml を読み込みました。内容を確かめて、必要なら直して保存してください。", "info");
    } else if (params.get("body")) {
      const b = bodies.find((x) => String(x.id) === params.get("body"));
      if (b) { f.body.value = b.name; await showRoster(b.name); }
    }
    document.body.dataset.ready = "1";
  } catch (e) { banner(e.message); }
}

start();
