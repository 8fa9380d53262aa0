// 声の登録: a participant reads the provided text into the rig's input (the app's recorder,
// one recording at a time), the clerk listens to the take, and keeps it; or sends a file.
// The server checks either (enough speech, not silent, not clipped) and answers one Japanese line.
"use strict";
// el, banner, api, upload: common.js; drawMeters, clock, loadDevices: meter.js

// /meetings/{id}/voices: a meeting's participants; /bodies/{id}/voices: a body's roster (kept
// there only with the person's consent)
const [, KIND, ID] = location.pathname.split("/");
const ROSTER = KIND === "bodies";
const MID = Number(ID);
let who = null; // the participant's name, or the member's id on the roster
let take = null; // the checked take waiting to be kept
let recording = false;

async function call(method, path, body) {
  return api(method, path, body === undefined ? undefined : JSON.stringify(body), "application/json");
}

let names = {}; // who → the name shown

async function loadPeople() {
  let people;
  if (ROSTER) {
    const b = await api("GET", `/api/bodies/${MID}`);
    $("#title").textContent = `${b.name}（名簿）`;
    people = b.members.filter((m) => m.active).map((m) => ({ key: String(m.id), name: m.name, role: m.role, voice: m.voice }));
    $("#consent").parentElement.lastChild.textContent = " 本人の同意あり（名簿に声を残すには必要です）";
  } else {
    const m = await api("GET", `/api/meetings/${MID}`);
    $("#title").textContent = `${m.body} ${m.session}`;
    people = m.participants.map((p) => ({ key: p.name, name: p.name, role: p.role, voice: p.voice }));
  }
  names = Object.fromEntries(people.map((p) => [p.key, p.name]));
  $("#people tbody").replaceChildren(...people.map((p) => el("tr", { "data-name": p.name },
    el("td", {}, p.name), el("td", {}, p.role), el("td", {}, p.voice ? "登録済み" : "なし"),
    el("td", {}, el("button", { type: "button", onclick: () => choose(p.key) }, "声を登録")))));
}

function recordPath() {
  return ROSTER ? `/api/bodies/${MID}/members/${who}/voice/record`
    : `/api/meetings/${MID}/voices/${encodeURIComponent(who)}/record`;
}

function uploadPath() {
  return ROSTER ? `/api/bodies/${MID}/members/${who}/voice`
    : `/api/meetings/${MID}/voices/${encodeURIComponent(who)}`;
}

function choose(name) {
  if (recording) { banner("録音中です。先に「録音終了」を押してください。"); return; }
  who = name;
  take = null;
  $("#panel").hidden = false;
  $("#who").textContent = `${names[name]} さんの声`;
  $("#check").hidden = true;
  banner("");
  $("#panel").scrollIntoView({ behavior: "smooth" });
}

function showStatus(st) {
  const a = st.active;
  const ours = a && a.kind === "voice" && a.name === names[who] && (ROSTER ? String(a.member) === who : a.meeting === MID);
  recording = !!ours;
  $("#rec").disabled = !!a;
  $("#end").disabled = !ours;
  if (ours) {
    $("#elapsed").textContent = clock(a.status.elapsed);
    drawMeters($("#meters"), a.status);
    $("#warnings").replaceChildren(...a.status.warnings.map((w) => el("li", {}, w)));
    const s = a.status.elapsed;
    $("#hint").textContent = s < 20 ? "20〜60秒読んでください" : s <= 60 ? "十分です。読み終えたら「録音終了」" : "長すぎます。「録音終了」を押してください";
  } else if (a) {
    $("#hint").textContent = a.kind === "meeting" ? "会議を録音中のため、声の録音はできません" : "他の人の声を録音中です";
  }
}

async function poll() {
  const was = recording;
  try {
    const st = await api("GET", "/api/recorder");
    showStatus(st);
    if (was && !st.active && st.last) checked(st.last); // stopped by itself (90 s)
  } catch (e) { $("#status").textContent = e.message; }
  setTimeout(poll, 250);
}

function checked(r) {
  if (r.error) { banner(r.error); return; }
  if (!r.take || take === r.take) return;
  take = r.take;
  $("#play").src = `/api/takes/${r.take}`;
  $("#check").hidden = false;
  banner(`録音しました（${r.duration}秒）。聞き直してから「登録する」を押してください。`, "info");
}

$("#rec").addEventListener("click", async () => {
  banner("");
  $("#check").hidden = true;
  if (take) { api("DELETE", `/api/takes/${take}`).catch(() => {}); take = null; }
  try {
    await call("POST", recordPath(), { device: $("#device").value, channels: $("#channels").value });
    recording = true;
  } catch (e) { banner(e.message); }
});

$("#end").addEventListener("click", async () => {
  $("#end").disabled = true;
  banner("録音を確かめています…", "info");
  try {
    const r = await call("POST", "/api/recorder/stop");
    recording = false;
    checked(r);
  } catch (e) { recording = false; banner(e.message); }
});

$("#keep").addEventListener("click", async () => {
  try {
    const r = await api("POST", `/api/takes/${take}/keep${$("#consent").checked ? "?consent=1" : ""}`);
    take = null;
    $("#check").hidden = true;
    banner(`${r.name} さんの声を登録しました${r.kept === "roster" ? "（名簿にも残しました）" : ""}。`, "info");
    loadPeople();
  } catch (e) { banner(e.message); }
});

$("#again").addEventListener("click", () => {
  if (take) api("DELETE", `/api/takes/${take}`).catch(() => {});
  take = null;
  $("#check").hidden = true;
  banner("");
});

$("#send").addEventListener("click", async () => {
  const file = $("#file").files[0];
  if (!file) { banner("声の録音ファイルを選んでください。"); return; }
  try {
    const q = $("#consent").checked ? "?consent=1" : "";
    const r = await upload(`${uploadPath()}${q}`, file);
    banner(`${r.name} さんの声を登録しました。`, "info");
    loadPeople();
  } catch (e) { banner(e.message); }
});

async function init() {
  try {
    await loadPeople();
    $("#reading").textContent = await (await fetch("/static/voice_text.txt", { credentials: "same-origin" })).text();
  } catch (e) { banner(e.message); return; }
  try { await loadDevices($("#device"), $("#channels")); } catch (e) { banner(e.message); }
  const pre = new URLSearchParams(location.search).get(ROSTER ? "member" : "name");
  if (pre && names[pre] !== undefined) choose(pre);
  poll();
}

init();
