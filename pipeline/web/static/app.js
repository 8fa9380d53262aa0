// The meeting list of `kaigiroku app`: everything through the JSON API under /api/ (the same
// one scripts use). The cookie set by the first page load authenticates every request.
"use strict";
// el, banner, api, minutesLeft, upload: common.js
let current = null; // meeting id shown in the detail section
let pollTimer = null;
let recordingFor = null;


function stateCell(m) {
  const td = el("td", { class: "state" + (m.state === "エラー" ? " error" : "") }, m.state);
  const j = m.job;
  if (j && (j.state === "running" || j.state === "queued")) {
    const pct = Math.floor(j.progress * 100);
    td.append(el("div", { class: "jobline" },
      j.state === "queued" ? "順番待ち" : `${j.stage || "準備中"} ${pct}% ${minutesLeft(j.eta_s)}`,
      j.worker ? el("span", { class: "worker", title: "この原稿を作っている作業者（PC名:番号）" }, ` 作業者 ${j.worker}`) : null));
    const bar = el("div", { class: "bar", role: "progressbar", "aria-valuenow": String(pct) }, el("div"));
    bar.firstChild.style.width = `${pct}%`;
    td.append(bar);
  } else if (j && j.state === "failed" && j.error) {
    td.append(el("div", { class: "joberr" }, j.error));
  } else if (j && j.state === "cancelled") {
    td.append(el("div", { class: "jobline" }, "原稿作成を取り消しました"));
  }
  return td;
}

// m.can: the operations the server lets this user do on the meeting (pipeline/web/access.py's
// MEETING_OPS; all of them in the single-PC app). A button is shown only for those; the server
// still refuses the others.
const may = (m, op) => m.can.includes(op);

function opsCell(m) {
  const td = el("td", { class: "ops" });
  const j = m.job;
  const busy = j && (j.state === "running" || j.state === "queued");
  if (may(m, "detail")) td.append(el("button", { type: "button", onclick: () => showDetail(m.id) }, "詳細"));
  if (may(m, "record")) td.append(el("a", { href: `/meetings/${m.id}/record`, class: "rec-link" }, "録音"));
  if (may(m, "record_voice")) td.append(el("a", { href: `/meetings/${m.id}/voices`, class: "rec-link" }, "声の登録"));
  if (may(m, "upload")) {
    td.append(el("button", { type: "button", onclick: () => pickRecording(m.id) },
      m.recordings ? "録音を取り込み直す" : "録音を取り込む"));
  }
  if (m.recordings && !busy && may(m, "draft")) {
    td.append(el("button", { type: "button", onclick: () => startDraft(m.id) }, m.draft ? "原稿を作り直す" : "原稿作成"));
  }
  if (busy && may(m, "cancel")) td.append(el("button", { type: "button", onclick: () => cancelJob(j.id) }, "取消"));
  // the form page: editable until the draft starts, then it shows the meeting and what 完了 learned
  if (may(m, "detail")) {
    td.append(el("a", { href: `/meetings/${m.id}/edit` }, m.draft || busy || !may(m, "change") ? "内容" : "編集"));
  }
  if (m.draft && !busy && m.state !== "完了" && may(m, "done")) {
    td.append(el("button", { type: "button", onclick: () => markDone(m.id) }, "完了にする"));
  }
  if (m.draft && may(m, "review")) {
    td.append(el("a", { href: `/meetings/${m.id}/review/`, target: "_blank", rel: "noopener" }, "校正"));
  }
  if (m.draft && may(m, "minutes")) {
    td.append(el("a", { href: `/api/meetings/${m.id}/minutes.docx` }, "Word（原稿）"));
    td.append(el("a", { href: `/api/meetings/${m.id}/minutes.docx?public=1` }, "Word（公開用）"));
  }
  if (may(m, "yaml")) {
    td.append(el("a", { href: `/api/meetings/${m.id}/meeting.yaml`, download: `meeting-${m.id}.yaml` }, "meeting.yaml"));
  }
  if (!busy && m.state !== "録音中" && may(m, "delete")) {
    td.append(el("button", { type: "button", class: "danger", onclick: () => deleteMeeting(m) }, "削除"));
  }
  return td;
}

async function refresh() {
  clearTimeout(pollTimer);
  let active = false;
  try {
    const q = $("#q").value.trim();
    const data = await api("GET", "/api/meetings" + (q ? `?q=${encodeURIComponent(q)}` : ""));
    const body = $("#meetings tbody");
    body.replaceChildren(...data.meetings.map((m) => {
      active = active || (m.job && (m.job.state === "running" || m.job.state === "queued"));
      return el("tr", { "data-id": String(m.id) }, el("td", {}, m.body), el("td", {}, m.session),
        el("td", {}, m.date), stateCell(m), opsCell(m));
    }));
    $("#empty").hidden = data.meetings.length > 0 || !!q;
    $("#status").textContent = `更新 ${new Date().toLocaleTimeString("ja-JP")}`;
  } catch (e) {
    $("#status").textContent = e.message;
  }
  // poll often while a draft runs, rarely otherwise
  pollTimer = setTimeout(refresh, active ? 2000 : 10000);
}

async function startDraft(id) {
  try {
    await api("POST", `/api/meetings/${id}/draft`);
    banner("原稿作成を始めました。進み具合は一覧に表示されます。", "info");
  } catch (e) { banner(e.message); }
  refresh();
}

async function markDone(id) {
  // 完了: the words the editor corrected are kept, and the voices learned where the body agreed
  if (!confirm("校正を終えて「完了」にしますか（直した語と、同意のある附属機関では声を学習します）。")) return;
  try {
    const r = await api("POST", `/api/meetings/${id}/done`);
    banner(["完了にしました。", ...r.notices].join("\n"), "info");
  } catch (e) { banner(e.message); }
  refresh();
}

async function deleteMeeting(m) {
  // the recording, the clips of this meeting, the drafts and their corrections go with it
  const name = [m.body, m.session, m.date].filter(Boolean).join(" ");
  if (!confirm(`「${name}」を削除しますか。録音・この会議の声の録音・原稿と校正がすべて消え、元に戻せません。` +
               "名簿の声と学習した声は残ります。")) return;
  try {
    await api("DELETE", `/api/meetings/${m.id}`);
    banner(`「${name}」を削除しました。`, "info");
    if (current === m.id) { current = null; $("#detail").hidden = true; }
  } catch (e) { banner(e.message); }
  refresh();
}

async function cancelJob(job) {
  if (!confirm("原稿作成を取り消しますか（終わった段階は保存され、次に作るときに使われます）。")) return;
  try { await api("DELETE", `/api/jobs/${job}`); } catch (e) { banner(e.message); }
  refresh();
}

function pickRecording(id) {
  recordingFor = id;
  $("#recording-file").value = "";
  $("#recording-file").click();
}

$("#recording-file").addEventListener("change", async (ev) => {
  const file = ev.target.files[0];
  if (!file || recordingFor === null) return;
  try {
    const r = await upload(`/api/meetings/${recordingFor}/recording`, file,
      (f) => banner(`録音を取り込んでいます… ${Math.floor(f * 100)}%`, "info"));
    const min = r.duration ? `（${Math.round(r.duration / 60)}分）` : "";
    banner(`録音を取り込みました${min}。「原稿作成」を押すと原稿を作ります。`, "info");
  } catch (e) { banner(e.message); }
  refresh();
});

async function showDetail(id) {
  try {
    const m = await api("GET", `/api/meetings/${id}`);
    current = id;
    $("#detail").hidden = false;
    $("#detail-title").textContent = `${m.body} ${m.session}（${m.date}）`;
    $("#detail-people tbody").replaceChildren(...m.participants.map((p) => {
      const file = el("input", { type: "file", accept: "audio/*,.wav,.flac,.mp3,.m4a,.ogg" });
      const consent = el("input", { type: "checkbox" });
      const send = el("button", { type: "button", onclick: async () => {
        if (!file.files[0]) { banner("声の録音ファイルを選んでください。"); return; }
        try {
          const q = consent.checked ? "?consent=1" : "";
          await upload(`/api/meetings/${id}/voices/${encodeURIComponent(p.name)}${q}`, file.files[0]);
          banner(`${p.name} さんの声を登録しました。`, "info");
          showDetail(id);
        } catch (e) { banner(e.message); }
      } }, "登録");
      return el("tr", {}, el("td", {}, p.name), el("td", {}, p.role), el("td", {}, p.title || ""),
        el("td", {}, p.voice ? "登録済み" : "なし"),
        el("td", {}, ...(may(m, "voice") ? [file, el("label", {}, consent, "名簿に残す（同意あり）"), send] : [])));
    }));
    $("#detail").scrollIntoView({ behavior: "smooth" });
  } catch (e) { banner(e.message); }
}

// ---- adding a meeting

for (const tab of document.querySelectorAll(".tab")) {
  tab.addEventListener("click", () => {
    for (const t of document.querySelectorAll(".tab")) t.classList.toggle("on", t === tab);
    $("#form-paste").hidden = tab.dataset.tab !== "paste";
    $("#form-fields").hidden = tab.dataset.tab !== "form";
  });
}

$("#yaml-file").addEventListener("change", async (ev) => {
  const file = ev.target.files[0];
  if (file) $("#yaml").value = await file.text();
});

async function added(id) {
  banner("会議を追加しました。録音を取り込んで「原稿作成」を押してください。", "info");
  await refresh();
  showDetail(id);
}

$("#form-paste").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    const r = await api("POST", "/api/meetings", $("#yaml").value, "application/yaml");
    $("#yaml").value = "";
    added(r.id);
  } catch (e) { banner(e.message); }
});

const lines = (text) => text.split(/\r?\n/).map((s) => s.trim()).filter(Boolean);

$("#form-fields").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target.elements;
  const participants = lines(f.participants.value).map((line) => {
    const [name, role, title] = line.split(/\s*[,，、]\s*/);
    const p = { name, role: role || "委員" };
    if (title) p.title = title;
    return p;
  });
  const meeting = {
    meeting: { body: f.body.value.trim(), session: f.session.value.trim(), date: f.date.value.trim(),
               place: f.place.value.trim(), agenda: lines(f.agenda.value) },
    participants, absent: lines(f.absent.value), vocabulary: lines(f.vocabulary.value),
  };
  try {
    const r = await api("POST", "/api/meetings", JSON.stringify(meeting), "application/json");
    ev.target.reset();
    added(r.id);
  } catch (e) { banner(e.message); }
});

$("#search").addEventListener("submit", (ev) => { ev.preventDefault(); refresh(); });
$("#clear").addEventListener("click", () => { $("#q").value = ""; refresh(); });

refresh();
offerRecovery(); // recovery.js: a recording a crash left unfinished
