// kaigiroku review page (issue #8). Plain JavaScript, no libraries: the PCs may be offline.
// The server owns the document: every edit is one request naming the revision it was based on;
// the answer is the saved document (or 409 when someone else changed the file first).
"use strict";

const $ = (id) => document.getElementById(id);
const player = $("player");
let doc = null;          // the last saved document from the server
let current = null;      // index of the utterance the editor is working on
let caret = null;        // {i, at}: the last caret position inside an utterance's text
let pending = null;      // {i, text}: typed text not yet sent
let timer = null;        // debounce for `pending`
let composing = false;   // an IME composition is open: do not save half a word
let blocked = false;     // a conflict: nothing more is sent until the page is reloaded
let queue = Promise.resolve();
let inflight = 0;
let waiting = 0;  // edits queued or in flight (see send)

// ---- helpers --------------------------------------------------------------------------

function hms(s) {
  s = Math.floor(s);
  const p = (n) => String(n).padStart(2, "0");
  return `${p(Math.floor(s / 3600))}:${p(Math.floor(s % 3600 / 60))}:${p(s % 60)}`;
}

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

function label(id) {
  const s = doc.speakers.find((x) => x.id === id);
  return s ? s.label : id;
}

function setStatus(text, kind) {
  const el = $("status");
  el.textContent = text;
  el.className = kind;
}

function banner(text, kind, reload) {
  const el = $("banner");
  if (!text) { el.hidden = true; return; }
  el.hidden = false;
  el.className = kind;
  el.textContent = text;
  if (reload) {
    const b = document.createElement("button");
    b.textContent = "再読み込み";
    b.onclick = () => location.reload();
    el.appendChild(b);
  }
}

// ---- talking to the server (one request at a time, in order) ----------------------------

function send(path, body) {
  // "保存中…" from the moment the edit is queued: a request waiting behind another one must not
  // leave "保存済み" on screen (the editor, or a test, would act on a page about to change).
  waiting++;
  setStatus("保存中…", "saving");
  const run = async () => {
    if (blocked) return null;
    inflight++;
    try {
      const r = await fetch(path, {
        method: "POST", headers: { "Content-Type": "application/json" }, credentials: "same-origin",
        body: JSON.stringify(Object.assign({ rev: doc.rev }, body)),
      });
      const data = await r.json().catch(() => ({ error: `サーバーの応答が読めません（${r.status}）` }));
      if (r.ok) return data;
      if (r.status === 409 && data.conflict) {
        blocked = true;
        const lost = body.op === "text" ? `\n保存されなかった文（コピーしてください）: ${body.text}` : "";
        banner(`保存できませんでした: ${data.error}${lost}`, "conflict", true);
        setStatus("保存できません", "error");
        return null;
      }
      if (r.status === 409 && data.exists) return data;
      banner(data.error || `エラー（${r.status}）`, "error");
      render();  // back to what is saved
      return null;
    } catch (e) {
      const lost = body.op === "text" ? `\n入力中の文: ${body.text}` : "";
      banner(`サーバーに接続できません。kaigiroku review を起動し直してください。${lost}`, "error");
      setStatus("接続できません", "error");
      return null;
    } finally {
      inflight--;
    }
  };
  // "保存済み" only once the answer has been applied to the page (callers' .then run first):
  // a test or an editor acting on "saved" must find the page redrawn, not about to be.
  const p = queue.then(run).finally(() => { waiting--; });
  queue = p.catch(() => null).then(settle);
  return p;
}

function settle() {
  if (!inflight && !waiting && !pending && !blocked) setStatus("保存済み", "saved");
}

// Apply the server's answer to an edit: the whole document, or one utterance (text, flags).
// A row the editor is typing in is not redrawn (the caret would jump) unless `force`.
function accept(data, force) {
  if (!data || data.error) return;
  if (!data.utterance) {
    doc = data;
    updateUndo();
    render();
    return;
  }
  const { index, ...view } = data.utterance;
  doc.utterances[index] = view;
  Object.assign(doc, { rev: data.rev, undo: data.undo, undo_what: data.undo_what });
  updateUndo();
  if (force || document.activeElement !== cellOf(index)) renderRow(index);
}

async function edit(op, args) {
  await flush();
  const data = await send("api/edit", Object.assign({ op }, args));
  accept(data, true);
  return data;
}

function flush() {
  clearTimeout(timer);
  if (!pending) return queue;
  const { i, text } = pending;
  pending = null;
  if (text === doc.utterances[i].text) return queue;
  return send("api/edit", { op: "text", index: i, text }).then((data) => accept(data, false));
}

function typed(i) {
  if (composing || blocked) return;
  pending = { i, text: cellOf(i).textContent };
  setStatus("未保存の変更あり", "saving");
  clearTimeout(timer);
  timer = setTimeout(flush, 700);
}

// ---- rendering ----------------------------------------------------------------------------

function cellOf(i) {
  return document.querySelector(`tr[data-i="${i}"] td.text`);
}

function markClass(m) {
  return m.kind === "pii" ? "pii" : m.kind === "heading" ? "hd" : "lc";
}

function markTitle(m) {
  if (m.kind === "pii") return `黒塗り候補${m.note ? "（" + m.note + "）" : ""}`;
  if (m.kind === "heading") return `見出しの候補（${m.note}）: ここで次第の区切りなら「見出しを挿入」、違えば「印を確認済み」`;
  if (m.original) return `会議の用語に合わせて直した語（音声認識の結果: ${m.original}）`;
  return "音声認識の確からしさが低い語";
}

function textHTML(u) {
  const cuts = new Set([0, u.text.length]);
  u.spans.forEach(([a, b]) => { cuts.add(a); cuts.add(b); });
  u.marks.forEach((m) => { cuts.add(m.start); cuts.add(m.end); });
  const points = [...cuts].filter((c) => c >= 0 && c <= u.text.length).sort((a, b) => a - b);
  let html = "";
  for (let k = 0; k + 1 < points.length; k++) {
    const a = points[k], b = points[k + 1];
    if (a >= b) continue;
    const span = u.spans.find(([s, e]) => s <= a && a < e);
    const marks = u.marks.map((m, n) => [m, n]).filter(([m]) => m.start <= a && b <= m.end);
    const cls = marks.map(([m]) => markClass(m));
    const title = marks.map(([m]) => markTitle(m)).join("、");
    html += `<span${span ? ` data-w="${span[2]}"` : ""}${marks.length ? ` data-mark="${marks[0][1]}"` : ""}` +
            `${cls.length ? ` class="${cls.join(" ")}"` : ""}${title ? ` title="${esc(title)}"` : ""}>${esc(u.text.slice(a, b))}</span>`;
  }
  return html;
}

function rowHTML(u, i) {
  return `<tr class="utt" data-i="${i}"><td class="time" title="ここから再生">${hms(u.start)}</td>` +
         `<td class="speaker${u.speaker_uncertain ? " flag" : ""}" title="${u.speaker_uncertain ? "声の照合が不確かです。クリックして確認・変更" : "クリックして話者を変更"}">${esc(label(u.speaker))}</td>` +
         `<td class="text" contenteditable="plaintext-only" spellcheck="false">${textHTML(u)}</td></tr>`;
}

function headingHTML(h, k) {
  return `<tr class="heading" data-h="${k}"><td colspan="3"><span class="htime">${hms(h.time)}</span>` +
         `■ <span class="htitle" contenteditable="plaintext-only" spellcheck="false">${esc(h.title)}</span>` +
         `<button class="hdel" title="この見出しを削除">削除</button></td></tr>`;
}

function render() {
  if (!doc) return;
  const order = doc.headings.map((h, k) => [h, k]).sort((x, y) => x[0].before - y[0].before || x[1] - y[1]);
  let html = "", k = 0;
  doc.utterances.forEach((u, i) => {
    while (k < order.length && order[k][0].before <= i) { html += headingHTML(order[k][0], order[k][1]); k++; }
    html += rowHTML(u, i);
  });
  for (; k < order.length; k++) html += headingHTML(order[k][0], order[k][1]);
  $("rows").innerHTML = html;
  playingRow = -1;  // the rows were redrawn: highlight again
  playingWord = null;
  if (current !== null) markCurrent(current);
  legend();
  updateUndo();
}

function renderRow(i) {
  const tr = document.querySelector(`tr[data-i="${i}"]`);
  if (!tr) return;
  const tpl = document.createElement("tbody");
  tpl.innerHTML = rowHTML(doc.utterances[i], i);
  const row = tpl.firstElementChild;
  row.className = tr.className;
  tr.replaceWith(row);
  playingWord = null;
  legend();
}

function legend() {
  const us = doc.utterances;
  const parts = [];
  if (us.some((u) => u.speaker_uncertain)) parts.push('<span class="flagbox">話者欄が黄色</span>の発言は、声の照合が不確かです。');
  if (us.some((u) => u.marks.some((m) => markClass(m) === "lc"))) parts.push('<span class="lc">黄色の語</span>は、音声認識の確からしさが低い語です。');
  if (us.some((u) => u.marks.some((m) => m.kind === "heading"))) parts.push('<span class="hd">緑の語</span>は、次第の区切り（見出し）の候補です。');
  if (us.some((u) => u.marks.some((m) => m.kind === "pii"))) parts.push('<span class="pii">水色の語</span>は、公開前に確認が必要な個人情報の候補（黒塗り候補）です。');
  $("legend").innerHTML = parts.length ? "凡例　" + parts.join("　") : "";
}

function updateUndo() {
  const b = $("undo");
  b.disabled = !doc.undo;
  b.title = doc.undo ? `元に戻す: ${doc.undo_what}（あと ${doc.undo} 回）` : "元に戻せる編集はありません";
}

function header() {
  const info = Object.fromEntries(doc.header);
  $("title").textContent = [info["附属機関名"], info["回次"]].filter(Boolean).join(" ") || "会議録の校正";
  document.title = `${$("title").textContent} — 会議録の校正`;
  $("file").textContent = doc.file;
  $("file").title = doc.file;
  $("header-table").innerHTML = doc.header.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join("");
  if (doc.audio.available) {
    player.src = "audio";
  } else {
    player.hidden = true;
    const n = $("no-audio");
    n.hidden = false;
    n.textContent = `録音ファイル ${doc.audio.path} が見つかりません。文の修正はできますが、再生はできません（kaigiroku review --audio で録音を指定できます）。`;
  }
}

// ---- playback -----------------------------------------------------------------------------

let playingRow = -1, playingWord = null;

function playFrom(t, play) {
  if (!doc.audio.available) return;
  player.currentTime = Math.max(0, t);
  if (play) player.play().catch(() => {});
  highlight();
}

function findUtterance(t) {
  const us = doc.utterances;
  let lo = 0, hi = us.length - 1, found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (us[mid].start <= t + 1e-3) { found = mid; lo = mid + 1; } else hi = mid - 1;
  }
  return found;
}

function highlight() {
  if (!doc) return;
  const t = player.currentTime;
  const i = findUtterance(t);
  if (i !== playingRow) {
    document.querySelectorAll("tr.playing").forEach((r) => r.classList.remove("playing"));
    const tr = document.querySelector(`tr[data-i="${i}"]`);
    if (tr) {
      tr.classList.add("playing");
      const editing = document.activeElement && document.activeElement.isContentEditable;
      if ($("follow").checked && !player.paused && !editing) tr.scrollIntoView({ block: "center", behavior: "smooth" });
    }
    playingRow = i;
  }
  let w = -1;
  if (i >= 0) {
    const words = doc.utterances[i].words;
    for (let k = 0; k < words.length && words[k][0] <= t + 1e-3; k++) w = k;
    if (w >= 0 && t > words[w][1] + 0.3) w = -1;  // in a pause after the word
  }
  const key = `${i}:${w}`;
  if (key === playingWord) return;
  document.querySelectorAll("span.now").forEach((s) => s.classList.remove("now"));
  if (w >= 0) document.querySelectorAll(`tr[data-i="${i}"] span[data-w="${w}"]`).forEach((s) => s.classList.add("now"));
  playingWord = key;
}

function tick() {
  highlight();
  if (!player.paused) requestAnimationFrame(tick);
}

function togglePlay() {
  if (!doc.audio.available) return;
  if (player.paused) player.play().catch(() => {}); else player.pause();
}

// ---- editing ------------------------------------------------------------------------------

function rowIndex(el) {
  const tr = el && el.closest && el.closest("tr.utt");
  return tr ? Number(tr.dataset.i) : null;
}

function markCurrent(i) {
  document.querySelectorAll("tr.current").forEach((r) => r.classList.remove("current"));
  const tr = document.querySelector(`tr[data-i="${i}"]`);
  if (tr) tr.classList.add("current");
  current = i;
}

function caretIn(cell) {
  const sel = getSelection();
  if (!sel.rangeCount || !cell.contains(sel.anchorNode)) return null;
  const r = document.createRange();
  r.selectNodeContents(cell);
  r.setEnd(sel.anchorNode, sel.anchorOffset);
  return r.toString().length;
}

// The caret as the selection holds it now. "selectionchange" arrives as a later task, so a key
// pressed right after the caret moved would otherwise act on the previous position.
function caretNow() {
  const sel = getSelection();
  if (!sel.rangeCount) return caret;
  const node = sel.anchorNode && (sel.anchorNode.nodeType === 1 ? sel.anchorNode : sel.anchorNode.parentElement);
  const cell = node && node.closest && node.closest("td.text");
  if (!cell) return caret;  // focus left the text (a toolbar button): keep the last position
  const i = rowIndex(cell);
  caret = { i, at: caretIn(cell) };
  if (current !== i) markCurrent(i);
  return caret;
}

document.addEventListener("selectionchange", caretNow);

const rows = $("rows");

rows.addEventListener("click", (e) => {
  const i = rowIndex(e.target);
  if (e.target.closest("td.time")) { markCurrent(i); playFrom(doc.utterances[i].start, true); return; }
  if (e.target.closest("td.speaker")) { markCurrent(i); openSpeaker(i); return; }
  const hdel = e.target.closest("button.hdel");
  if (hdel) {
    const k = Number(hdel.closest("tr").dataset.h);
    if (confirm(`見出し「${doc.headings[k].title}」を削除しますか？`)) edit("remove_heading", { heading: k });
    return;
  }
  const w = e.target.closest("span[data-w]");
  if (w && i !== null) {
    const word = doc.utterances[i].words[Number(w.dataset.w)];
    if (word) playFrom(word[0], e.altKey || !player.paused);
  }
});

rows.addEventListener("input", (e) => {
  const i = rowIndex(e.target);
  if (i !== null && e.target.matches("td.text")) typed(i);
});
rows.addEventListener("compositionstart", () => { composing = true; });
rows.addEventListener("compositionend", (e) => {
  composing = false;
  const i = rowIndex(e.target);
  if (i !== null) typed(i);
});

rows.addEventListener("focusout", (e) => {
  if (e.target.matches("td.text")) {
    const i = rowIndex(e.target);
    flush().then(() => { if (document.activeElement !== cellOf(i)) renderRow(i); });
  } else if (e.target.matches(".htitle")) {
    const k = Number(e.target.closest("tr").dataset.h);
    const title = e.target.textContent.trim();
    if (doc.headings[k] && title !== doc.headings[k].title) edit("rename_heading", { heading: k, title });
  }
});

rows.addEventListener("keydown", (e) => {
  if (e.key !== "Enter" || e.isComposing || e.keyCode === 229) return;
  e.preventDefault();  // one utterance is one paragraph: Enter finishes, Ctrl+Enter splits
  if (e.ctrlKey && e.target.matches("td.text")) splitAtCaret();
  else e.target.blur();
});

async function splitAtCaret() {
  caretNow();
  if (!caret || caret.at === null) { banner("分割する位置（文の中）をクリックしてから押してください。", "info"); return; }
  const { i, at } = caret;
  await flush();
  if (await edit("split", { index: i, at })) { caret = null; banner(""); }
}

document.addEventListener("keydown", (e) => {
  if (e.ctrlKey && e.code === "Space") { e.preventDefault(); togglePlay(); }
});

// toolbar buttons must not take the focus (and the caret) away from the text
$("tools").addEventListener("mousedown", (e) => { if (e.target.closest("button")) e.preventDefault(); });

$("split").onclick = splitAtCaret;

$("merge").onclick = async () => {
  if (current === null) { banner("結合する発言をクリックしてから押してください。", "info"); return; }
  if (await edit("merge", { index: current })) banner("");
};

$("heading").onclick = async () => {
  const before = current === null ? 0 : current;
  const title = prompt(`発言「${doc.utterances[before] ? doc.utterances[before].text.slice(0, 20) : ""}…」の前に入れる見出し（例: 案件2 …、休憩、閉会）`);
  if (title && title.trim()) await edit("add_heading", { before, title: title.trim() });
};

$("check").onclick = async () => {
  caretNow();
  if (current === null) { banner("確認した発言をクリックしてから押してください。", "info"); return; }
  await flush();  // the marks below must be those of the saved text
  const u = doc.utterances[current];
  let mark = null;
  if (caret && caret.i === current && caret.at !== null) {
    const n = u.marks.findIndex((m) => m.start <= caret.at && caret.at <= m.end);
    if (n >= 0) mark = n;
  }
  if (mark === null && !u.marks.length && !u.speaker_uncertain) { banner("この発言に印はありません。", "info"); return; }
  await edit("check", mark === null ? { index: current } : { index: current, mark });
};

$("undo").onclick = async () => {
  await flush();
  accept(await send("api/undo", {}));
};

$("rate").onchange = () => { player.playbackRate = Number($("rate").value); };
player.addEventListener("ratechange", () => { $("rate").value = String(player.playbackRate); });
player.addEventListener("play", () => requestAnimationFrame(tick));
player.addEventListener("seeked", highlight);
player.addEventListener("error", () => {
  if (!player.src) return;
  const n = $("no-audio");
  n.hidden = false;
  n.textContent = "録音を再生できません（形式に対応していないか、読み込めません）。文の修正はできます。";
});

$("export").onclick = async () => {
  await flush();
  const pub = $("public").checked;
  const stem = doc.file.split(/[\\/]/).pop().replace(/\.json$/i, "");
  const name = prompt(pub ? "公開用の原稿のファイル名（結果ファイルと同じフォルダに書きます）" :
                            "原稿のファイル名（結果ファイルと同じフォルダに書きます）", `${stem}-${pub ? "公開用" : "校正済"}.docx`);
  if (!name) return;
  let data = await send("api/export", { name, public: pub });
  if (data && data.exists) {
    if (!confirm(`${name} は既にあります（編集済みの原稿かもしれません）。上書きしますか？`)) {
      banner("書き出しをやめました。", "info");
      return;
    }
    data = await send("api/export", { name, public: pub, force: true });
  }
  if (data && data.path) banner(`書き出しました: ${data.path}`, "info");
};

// ---- the speaker dialog -------------------------------------------------------------------

let dialogRow = null;

function openSpeaker(i) {
  dialogRow = i;
  const u = doc.utterances[i];
  const named = new Map(doc.speakers.filter((s) => s.name).map((s) => [s.name, s]));
  let html = "";
  if (doc.participants.length) {
    html += '<div class="group">出席者（会議ファイル）</div>';
    doc.participants.forEach((p) => {
      const s = named.get(p.name);
      const checked = s && s.id === u.speaker ? " checked" : "";
      const lab = s ? s.label : p.role;
      html += `<label><input type="radio" name="who" value="p:${esc(p.name)}"${checked}> ${esc(lab)}（${esc(p.name)}${p.title ? "・" + esc(p.title) : ""}）</label>`;
    });
  }
  const others = doc.speakers.filter((s) => !s.name || !doc.participants.some((p) => p.name === s.name));
  if (!others.some((s) => s.id === "ALL")) others.push({ id: "ALL", label: "一同" });
  html += '<div class="group">そのほか</div>';
  others.forEach((s) => {
    const checked = s.id === u.speaker ? " checked" : "";
    html += `<label><input type="radio" name="who" value="s:${esc(s.id)}"${checked}> ${esc(s.label)}${s.name ? "（" + esc(s.name) + "）" : ""}</label>`;
  });
  $("speaker-choices").innerHTML = html;
  const count = doc.utterances.filter((v) => v.speaker === u.speaker).length;
  $("scope-all").textContent = `「${label(u.speaker)}」のすべての発言（${count} 件）`;
  document.querySelector('#speaker-scope input[value="one"]').checked = true;
  $("speaker-checked").hidden = !u.speaker_uncertain;
  $("speaker-dialog").returnValue = "";  // Esc keeps the last value: never re-apply an old choice
  $("speaker-dialog").showModal();
}

// The dialog's "close" event comes a task after the click: the edit counts as waiting from the
// click on, so "保存済み" never shows between the click and the request.
["speaker-apply", "speaker-checked"].forEach((id) => $(id).addEventListener("click", () => {
  waiting++;
  setStatus("保存中…", "saving");
}));

$("speaker-dialog").addEventListener("close", async () => {
  const how = $("speaker-dialog").returnValue;
  const held = how === "apply" || how === "checked";
  try {
    await speakerChosen(how);
  } finally {
    if (held) { waiting--; settle(); }
  }
});

async function speakerChosen(how) {
  const i = dialogRow;
  if (i === null) return;
  dialogRow = null;
  if (how === "checked") { await edit("check", { index: i, speaker: true }); return; }
  if (how !== "apply") return;
  const who = document.querySelector('#speaker-choices input[name="who"]:checked');
  if (!who) return;
  const v = who.value;
  const choice = v.startsWith("p:") ? { participant: v.slice(2) } : { speaker: v.slice(2) };
  const all = document.querySelector('#speaker-scope input[value="all"]').checked;
  await edit("speaker", { index: i, choice, all });
}

// ---- start --------------------------------------------------------------------------------

window.addEventListener("pagehide", () => {
  // the tab is closing: send what was typed (keepalive lets the request outlive the page)
  clearTimeout(timer);
  if (!pending || blocked) return;
  fetch("api/edit", { method: "POST", keepalive: true, headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ rev: doc.rev, op: "text", index: pending.i, text: pending.text }) });
  pending = null;
});
window.addEventListener("beforeunload", (e) => {
  if (pending || inflight) { e.preventDefault(); e.returnValue = ""; }
});

(async () => {
  const r = await fetch("api/doc", { credentials: "same-origin" });
  if (!r.ok) { setStatus("読み込めません", "error"); banner(await r.text(), "error"); return; }
  doc = await r.json();
  header();
  render();
  setStatus("保存済み", "saved");
  document.body.dataset.ready = "1";
})();
