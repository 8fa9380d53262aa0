// 附属機関と名簿: bodies and their rosters, through /api/bodies (pipeline/web/roster.py).
"use strict";
// el, banner, api, upload: common.js
let roles = [];
let styles = {};
let current = null; // the body shown below the list

function options(select, values, chosen) {
  select.replaceChildren(...Object.entries(values).map(([v, text]) => {
    const o = el("option", { value: v }, text);
    if (v === chosen) o.selected = true;
    return o;
  }));
  return select;
}

const roleOptions = (chosen) => options(el("select", { name: "role" }), Object.fromEntries(roles.map((r) => [r, r])), chosen);

async function loadList() {
  try {
    const data = await api("GET", "/api/bodies");
    roles = data.roles;
    styles = data.label_styles;
    for (const s of document.querySelectorAll("select.label-styles")) options(s, styles, s.value || "letters");
    for (const s of document.querySelectorAll("select.roles")) options(s, Object.fromEntries(roles.map((r) => [r, r])), s.value || "委員");
    $("#bodies tbody").replaceChildren(...data.bodies.map((b) => el("tr", { "data-id": String(b.id) },
      el("td", {}, b.name), el("td", {}, b.kind), el("td", {}, styles[b.member_labels] || b.member_labels),
      el("td", {}, `${b.members}人` + (b.left ? `（退任 ${b.left}人）` : "")), el("td", {}, `${b.meetings}回`),
      el("td", {}, b.consent ? "同意あり" : "同意なし"),
      el("td", { class: "ops" }, el("button", { type: "button", onclick: () => showBody(b.id) }, "名簿"),
        el("a", { href: `/meetings/new?body=${b.id}` }, "会議を準備")))));
    $("#empty").hidden = data.bodies.length > 0;
    $("#status").textContent = `更新 ${new Date().toLocaleTimeString("ja-JP")}`;
  } catch (e) { banner(e.message); }
}

function fieldsOf(form) {
  const out = {};
  for (const e of form.elements) if (e.name) out[e.name] = e.value.trim();
  return out;
}

$("#new-body").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    const r = await api("POST", "/api/bodies", JSON.stringify(fieldsOf(ev.target)), "application/json");
    ev.target.reset();
    banner("附属機関を追加しました。名簿に委員を加えてください。", "info");
    await loadList();
    showBody(r.id);
  } catch (e) { banner(e.message); }
});

async function showBody(id) {
  try {
    const b = await api("GET", `/api/bodies/${id}`);
    current = b;
    $("#body").hidden = false;
    $("#body-title").textContent = `${b.name}（${b.kind || "附属機関"}）`;
    const f = $("#body-form").elements;
    f.name.value = b.name;
    f.kind.value = b.kind;
    options(f.member_labels, styles, b.member_labels);
    $("#prepare").href = `/meetings/new?body=${b.id}`;
    renderMembers();
    renderConsent();
  } catch (e) { banner(e.message); }
}

function voiceCell(m) {
  const td = el("td", {});
  td.append(el("div", { class: m.voice ? "ok" : "" },
    m.voice ? `登録済み（同意 ${m.voice_consent_at ? m.voice_consent_at.slice(0, 10) : "あり"}）` : "なし"));
  const file = el("input", { type: "file", accept: "audio/*,.wav,.flac,.mp3,.m4a,.ogg" });
  const consent = el("input", { type: "checkbox" });
  td.append(file, el("label", {}, consent, "本人の同意あり"),
    el("button", { type: "button", onclick: async () => {
      if (!file.files[0]) { banner("声の録音ファイルを選んでください。"); return; }
      try {
        await upload(`/api/bodies/${current.id}/members/${m.id}/voice${consent.checked ? "?consent=1" : ""}`, file.files[0],
          (f) => banner(`送っています… ${Math.floor(f * 100)}%`, "info"));
        banner(`${m.name} さんの声を名簿に登録しました。`, "info");
        showBody(current.id);
      } catch (e) { banner(e.message); }
    } }, "登録"),
    // or read the provided text into the mic (voice.js; the single-PC app only)
    el("a", { href: `/bodies/${current.id}/voices?member=${m.id}`, class: "rec-link" }, "マイクで録音"));
  if (m.voice) {
    td.append(el("button", { type: "button", onclick: async () => {
      if (!confirm(`${m.name} さんの声の録音を名簿から削除しますか。`)) return;
      try { await api("DELETE", `/api/bodies/${current.id}/members/${m.id}/voice`); showBody(current.id); } catch (e) { banner(e.message); }
    } }, "声を削除"));
  }
  return td;
}

async function patchMember(m, changes, done) {
  try {
    await api("PATCH", `/api/bodies/${current.id}/members/${m.id}`, JSON.stringify(changes), "application/json");
    if (done) banner(done, "info");
    showBody(current.id);
  } catch (e) { banner(e.message); }
}

async function move(m, step) {
  const ids = current.members.map((x) => x.id);
  const i = ids.indexOf(m.id);
  const j = i + step;
  if (j < 0 || j >= ids.length) return;
  [ids[i], ids[j]] = [ids[j], ids[i]];
  try {
    await api("PUT", `/api/bodies/${current.id}/order`, JSON.stringify({ members: ids }), "application/json");
    showBody(current.id);
  } catch (e) { banner(e.message); }
}

function renderMembers() {
  const showLeft = $("#show-left").checked;
  const rows = current.members.filter((m) => showLeft || m.active).map((m, n) => {
    const name = el("input", { value: m.name, size: "12", "aria-label": "氏名" });
    const role = roleOptions(m.role);
    const title = el("input", { value: m.title || "", size: "14", "aria-label": "職名" });
    const label = el("input", { value: m.label || "", size: "10", "aria-label": "表示名" });
    const ops = el("td", { class: "ops" },
      el("button", { type: "button", onclick: () => patchMember(m, { name: name.value, role: role.value, title: title.value, label: label.value },
        `${name.value.trim()} さんの名簿を保存しました。`) }, "保存"),
      el("button", { type: "button", onclick: () => patchMember(m, { active: !m.active },
        m.active ? `${m.name} さんを退任にしました。` : `${m.name} さんを在任に戻しました。`) }, m.active ? "退任にする" : "在任に戻す"));
    if (!m.meetings) {
      ops.append(el("button", { type: "button", onclick: async () => {
        if (!confirm(`${m.name} さんを名簿から削除しますか。`)) return;
        try { await api("DELETE", `/api/bodies/${current.id}/members/${m.id}`); showBody(current.id); } catch (e) { banner(e.message); }
      } }, "削除"));
    }
    return el("tr", { class: m.active ? "" : "left", "data-id": String(m.id) },
      el("td", { class: "num" }, `${n + 1} `, el("button", { type: "button", title: "上へ", onclick: () => move(m, -1) }, "↑"),
        el("button", { type: "button", title: "下へ", onclick: () => move(m, 1) }, "↓")),
      el("td", {}, name), el("td", {}, role), el("td", {}, title), el("td", {}, label),
      el("td", {}, m.active ? "在任" : "退任", m.meetings ? el("div", { class: "help" }, `出席 ${m.meetings}回`) : null),
      voiceCell(m), ops);
  });
  $("#members tbody").replaceChildren(...rows);
}

function renderConsent() {
  const l = current.learning;
  const box = $("#consent");
  if (l.error) { box.replaceChildren(el("p", { class: "warn" }, l.error)); return; }
  const people = Object.entries(l.people);
  const learned = people.length ? `学習した声: ${people.map(([n, k]) => `${n}（${k}件）`).join("、")}` : "学習した声はまだありません。";
  if (l.consent) {
    box.replaceChildren(
      el("p", { class: "ok" }, `委員の同意が記録されています（${l.consent.given.slice(0, 10)}${l.consent.note ? "、" + l.consent.note : ""}）。` +
        "会議を「完了」にすると、直した原稿から出席者の声を学習し、次の会議で名前を付けるのに使います。"),
      el("p", {}, learned),
      el("button", { type: "button", onclick: async () => {
        if (!confirm("同意を取り消すと、この附属機関で学習した声をすべて削除します。よろしいですか。")) return;
        try { await api("DELETE", `/api/bodies/${current.id}/consent`); banner("同意を取り消し、学習した声を削除しました。", "info"); showBody(current.id); } catch (e) { banner(e.message); }
      } }, "同意を取り消す（学習した声を削除）"));
    return;
  }
  const note = el("input", { size: "40", placeholder: "同意の記録（例: 令和6年4月の会議で全員同意）" });
  const agreed = el("input", { type: "checkbox" });
  box.replaceChildren(
    el("p", {}, "声の学習は、委員の同意を得た附属機関だけで行います（声の特徴は個人情報です。学習した声はこのPCの中だけに置かれます）。"),
    el("label", {}, agreed, "委員の同意を得ました"), " ", note, " ",
    el("button", { type: "button", onclick: async () => {
      if (!agreed.checked) { banner("委員の同意を得てから「委員の同意を得ました」を選んでください。"); return; }
      try {
        await api("PUT", `/api/bodies/${current.id}/consent`, JSON.stringify({ note: note.value.trim() }), "application/json");
        banner("声の学習への同意を記録しました。", "info");
        showBody(current.id);
        loadList();
      } catch (e) { banner(e.message); }
    } }, "同意を記録"));
}

$("#body-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    await api("PATCH", `/api/bodies/${current.id}`, JSON.stringify(fieldsOf(ev.target)), "application/json");
    banner("附属機関を保存しました。", "info");
    await loadList();
    showBody(current.id);
  } catch (e) { banner(e.message); }
});

$("#new-member").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    const f = fieldsOf(ev.target);
    await api("POST", `/api/bodies/${current.id}/members`, JSON.stringify(f), "application/json");
    ev.target.elements.name.value = "";
    ev.target.elements.title.value = "";
    ev.target.elements.label.value = "";
    banner(`${f.name} さんを名簿に加えました。`, "info");
    await showBody(current.id);
    ev.target.elements.name.focus();
    loadList();
  } catch (e) { banner(e.message); }
});

$("#show-left").addEventListener("change", () => { if (current) renderMembers(); });

loadList().then(() => {
  const id = new URLSearchParams(location.search).get("id");
  if (id) showBody(Number(id));
});
offerRecovery(); // recovery.js: a recording a crash left unfinished (and no mic links on a server)
