// The login page of kaigiroku server: posts the name and password as JSON, then opens the page
// the user came for (?next=, this site's own paths only; the server checks it too).
"use strict";

$("#login").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  banner("");
  const button = $("#submit");
  button.disabled = true;
  try {
    const next = new URLSearchParams(location.search).get("next") || "/";
    const data = await api("POST", "/login",
      JSON.stringify({ name: $("#name").value, password: $("#password").value, next }), "application/json");
    location.href = data.next;
  } catch (e) {
    banner(e.message, "error");
    $("#password").value = "";
    $("#password").focus();
  } finally {
    button.disabled = false;
  }
});
