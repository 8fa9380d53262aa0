// 録音: the app records the meeting through the same capture core as `kaigiroku record`. The
// recording belongs to the app, not to this page: the page polls /api/recorder a few times a
// second and can be closed and opened again at any time.
"use strict";
// el, banner, api: common.js; offerRecovery: recovery.js; drawMeters, clock, diskLeft, loadDevices: meter.js

const MID = Number(location.pathname.split("/")[2]);
const POLL_MS = 250;
let meeting = null;
let mine = false; // the active recording is this meeting's
let paused = false;

async function call(method, path, body) {
  return api(method, path, body === undefined ? undefined : JSON.stringify(body), "application/json");
}

function showIdle(busyElsewhere) {
  $("#state").textContent = busyElsewhere || "待機中";
  $("#state").className = "state-idle";
  $("#start").disabled = !!busyElsewhere;
  $("#pause").disabled = $("#stop").disabled = true;
  for (const b of document.querySelectorAll("#marks button")) b.disabled = true;
}

function show(st) {
  const active = st.active;
  mine = !!active && active.kind === "meeting" && active.meeting === MID;
  if (!active) return showIdle(st.saving && st.saving.meeting === MID ? "録音を保存しています…" : undefined);
  if (!mine) {
    return showIdle(active.kind === "meeting" ? `別の会議（${active.meeting}）を録音中です` : "声の登録で録音中です");
  }
  const s = active.status;
  paused = s.paused;
  $("#state").textContent = paused ? "一時停止中" : "録音中";
  $("#state").className = paused ? "state-paused" : "state-on";
  $("#elapsed").textContent = clock(s.elapsed);
  $("#disk").textContent = diskLeft(s.disk_left);
  drawMeters($("#meters"), s);
  $("#warnings").replaceChildren(...s.warnings.map((w) => el("li", {}, w)));
  $("#markers").replaceChildren(...s.markers.map((m) => el("li", {}, `${clock(m.time)} ${m.label}`)));
  $("#start").disabled = true;
  $("#pause").disabled = $("#stop").disabled = false;
  $("#pause").textContent = paused ? "録音を再開" : "一時停止";
  for (const b of document.querySelectorAll("#marks button")) b.disabled = false;
  $("#setup").classList.add("off");
}

async function poll() {
  const wasMine = mine;
  try {
    const st = await api("GET", "/api/recorder");
    show(st);
    // it ended without this page's 終了 (a full disk, the device gone, 終了 in another window)
    if (wasMine && !st.active && st.last && st.last.meeting === MID && $("#done").hidden) finished(st.last);
    $("#status").textContent = "";
  } catch (e) {
    $("#status").textContent = e.message;
  }
  setTimeout(poll, POLL_MS);
}

function finished(r) {
  if (r.error) { banner(r.error); return; }
  $("#done").hidden = false;
  const why = { disk: "（ディスクの空きが少なくなったため止めました）", device: "（入力機器が止まったため止めました）" }[r.stopped_by] || "";
  $("#done-text").textContent = `録音を保存しました（${clock(r.duration)}、見出し ${r.markers.length} 件）${why}。` +
    "「原稿作成」を押すと原稿を作ります。";
}

$("#start").addEventListener("click", async () => {
  banner("");
  $("#start").disabled = true;
  try {
    await call("POST", `/api/meetings/${MID}/record`, { device: $("#device").value, channels: $("#channels").value });
    $("#done").hidden = true;
  } catch (e) { banner(e.message); $("#start").disabled = false; }
});

$("#pause").addEventListener("click", async () => {
  try { await call("POST", paused ? "/api/recorder/resume" : "/api/recorder/pause"); } catch (e) { banner(e.message); }
});

$("#stop").addEventListener("click", async () => {
  if (!confirm("録音を終了しますか。")) return;
  $("#stop").disabled = $("#pause").disabled = true;
  banner("録音を保存しています…", "info");
  try {
    const r = await call("POST", "/api/recorder/stop");
    banner("");
    finished(r);
  } catch (e) { banner(e.message); }
});

async function mark(label) {
  try {
    const m = await call("POST", "/api/recorder/marker", { label });
    banner(`見出し「${m.label}」を ${clock(m.time)} に入れました。`, "info");
  } catch (e) { banner(e.message); }
}

$("#draft").addEventListener("click", async () => {
  try {
    await api("POST", `/api/meetings/${MID}/draft`);
    location.href = "/";
  } catch (e) { banner(e.message); }
});

function recovered(m) {
  if (m !== MID) return;
  $("#done").hidden = false;
  $("#done-text").textContent = "途中で止まった録音を復元しました。「原稿作成」を押すと原稿を作ります。";
}

async function init() {
  try {
    meeting = await api("GET", `/api/meetings/${MID}`);
    $("#title").textContent = `${meeting.body} ${meeting.session}`;
    document.title = `録音 ${meeting.body} ${meeting.session} — kaigiroku`;
    const labels = [...meeting.agenda_items, "休憩", "再開"];
    $("#marks").replaceChildren(...labels.map((label) =>
      el("button", { type: "button", "data-label": label, disabled: "disabled", onclick: () => mark(label) }, label)));
  } catch (e) { banner(e.message); return; }
  try { await loadDevices($("#device"), $("#channels")); } catch (e) { banner(e.message); }
  offerRecovery(MID);
  poll();
}

init();
