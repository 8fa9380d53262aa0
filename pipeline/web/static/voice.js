// 声の登録: a participant reads the provided text into the rig's input (the app's recorder,
// one recording at a time), the clerk listens to the take, and keeps it; or sends a file.
// The server checks either (enough speech, not silent, not clipped) and answers one Japanese line.
"use strict";
// el, banner, api, upload: common.js; drawMeters, clock, loadDevices: meter.js

const MID = Number(location.pathname.split("/")[2]);
let who = null; // the participant's name
let take = null; // the checked take waiting to be kept
let recording = false;

async function call(method, path, body) {
  return api(method, path, body === undefined ? undefined : JSON.stringify(body), "application/json");
}

async function loadPeople() {
  const m = await api("GET", `/api/meetings/${MID}`);
  $("#title").textContent = `${m.body} ${m.session}`;
  $("#people tbody").replaceChildren(...m.participants.map((p) => el("tr", { "data-name": p.name },
    el("td", {}, p.name), el("td", {}, p.role), el("td", {}, p.voice ? "登録済み" : "なし"),
    el("td", {}, el("button", { type: "button", onclick: () => choose(p.name) }, "声を登録")))));
  return m;
}

function choose(name) {
  if (recording) { banner("録音中です。先に「録音終了」を押してください。"); return; }
  who = name;
  take = null;
  $("#panel").hidden = false;
  $("#who").textContent = `${name} さんの声`;
  $("#check").hidden = true;
  banner("");
  $("#panel").scrollIntoView({ behavior: "smooth" });
}

function showStatus(st) {
  const a = st.active;
  const ours = a && a.kind === "voice" && a.meeting === MID && a.name === who;
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
    await call("POST", `/api/meetings/${MID}/voices/${encodeURIComponent(who)}/record`,
      { device: $("#device").value, channels: $("#channels").value });
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
    const r = await upload(`/api/meetings/${MID}/voices/${encodeURIComponent(who)}${q}`, file);
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
  const name = new URLSearchParams(location.search).get("name");
  if (name) choose(name);
  poll();
}

init();
