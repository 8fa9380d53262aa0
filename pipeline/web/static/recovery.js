// The banner that offers recordings a crash left unfinished (the app or the PC died while
// recording): on the meeting list and on the recording page.
"use strict";

function hoursMinutes(s) {
  s = Math.floor(s || 0);
  const p = (n) => String(n).padStart(2, "0");
  return `${p(Math.floor(s / 3600))}:${p(Math.floor(s / 60) % 60)}:${p(s % 60)}`;
}

async function offerRecovery(onlyMeeting) {
  let data;
  try { data = await api("GET", "/api/recoveries"); } catch (e) {
    // the shared server records nothing (the mic rig is on the single-PC app's PC): no links to it
    document.body.classList.add("no-recorder");
    return;
  }
  let box = document.getElementById("recovery");
  const items = data.recordings.filter((r) => onlyMeeting === undefined || r.meeting === onlyMeeting);
  if (!items.length) { if (box) box.remove(); return; }
  if (!box) {
    box = el("div", { id: "recovery", class: "recovery" });
    document.querySelector("main").prepend(box);
  }
  const meetings = [...new Set(items.map((r) => r.meeting))];
  box.replaceChildren(el("strong", {}, "前回の録音が途中で止まっています。復元しますか"),
    ...meetings.map((m) => {
      const secs = items.filter((r) => r.meeting === m).reduce((a, r) => a + (r.seconds || 0), 0);
      return el("div", {}, `会議 ${m}：録音 ${hoursMinutes(secs)} `,
        el("button", { type: "button", "data-meeting": String(m), onclick: async (ev) => {
          ev.target.disabled = true;
          try {
            const r = await api("POST", `/api/meetings/${m}/recover`);
            const total = r.recordings.reduce((a, x) => a + (x.duration || 0), 0);
            banner(`録音を復元しました（${hoursMinutes(total)}）。「原稿作成」で原稿を作れます。`, "info");
            if (typeof refresh === "function") refresh();
            if (typeof recovered === "function") recovered(m);
          } catch (e) { banner(e.message); }
          offerRecovery(onlyMeeting);
        } }, "復元する"));
    }));
}
