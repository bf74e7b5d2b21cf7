// One escalation: live transcript while the call goes on, and the agent's actions.
"use strict";
(() => {
  const root = document.getElementById("handoff");
  const id = root.dataset.escalation;
  const callSid = root.dataset.call;
  const result = document.getElementById("action-result");
  const base = "/api/agent/escalations/" + encodeURIComponent(id);
  const say = (t) => { result.textContent = t; };
  async function act(fn, done) {
    try { const r = await fn(); say(done(r)); } catch (e) { say("Could not do that: " + e.message); }
  }
  document.getElementById("accept").addEventListener("click", () =>
    act(() => Care.api("POST", base + "/accept"), (r) => {
      document.getElementById("esc-status").textContent = "Agent: accepted (" + r.agent_id + ").";
      return "You have this item.";
    }));
  document.getElementById("note-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const box = document.getElementById("note-text");
    act(() => Care.api("POST", base + "/notes", { text: box.value }), (n) => {
      const li = document.createElement("li");
      li.appendChild(Care.el("span", n.author, "who"));
      li.appendChild(document.createTextNode(" (" + n.kind + "): " + n.text));
      document.getElementById("notes").appendChild(li); box.value = "";
      return "Note saved.";
    });
  });
  document.getElementById("resolve-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const outcome = document.getElementById("outcome").value;
    const note = document.getElementById("resolve-note").value;
    act(() => Care.api("POST", base + "/resolve", { outcome, note }), (r) => {
      document.getElementById("esc-status").textContent = "State: " + r.state + ".";
      return "Resolved: " + outcome.replace(/_/g, " ") + ".";
    });
  });
  document.getElementById("followup-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const kind = document.getElementById("followup-kind").value;
    const due = document.getElementById("followup-due").value;
    const body = { kind, note: document.getElementById("followup-note").value };
    if (due) body.due_at = new Date(due).toISOString();
    act(() => Care.api("POST", base + "/follow-ups", body), (f) => {
      document.getElementById("followups").appendChild(
        Care.el("li", f.kind.replace(/_/g, " ") + " at " + f.due_at));
      return "Call-back scheduled.";
    });
  });
  for (const form of document.querySelectorAll(".ticket-form")) {
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const ref = form.dataset.reference;
      const status = form.querySelector("select").value;
      act(() => Care.api("POST", "/api/agent/tickets/" + encodeURIComponent(ref) + "/status",
        { status, escalation_id: Number(id) }), (t) => "Ticket " + t.reference + " is now " + t.status + ".");
    });
  }
  // live transcript
  if (!callSid) return;
  const list = document.getElementById("transcript");
  function connect() {
    const ws = new WebSocket(Care.wsUrl("/agent/live"));
    ws.onopen = () => ws.send(JSON.stringify({ watch: callSid }));
    ws.onmessage = (m) => {
      const msg = JSON.parse(m.data);
      if (msg.type !== "session" || msg.call_sid !== callSid) return;
      if (msg.kind !== "heard" && msg.kind !== "prompt") return;
      const who = msg.kind === "heard" ? "caller" : "system";
      const li = Care.el("li", null, "who-" + who);
      li.appendChild(Care.el("span", who, "speaker"));
      li.appendChild(document.createTextNode(" "));
      li.appendChild(Care.el("span", msg.data.text || "", "text"));
      if (who === "caller" && msg.data.intent) li.appendChild(Care.el("span", " → " + msg.data.intent, "intent"));
      list.appendChild(li);
    };
    ws.onclose = () => setTimeout(connect, 2000);
  }
  connect();
})();
