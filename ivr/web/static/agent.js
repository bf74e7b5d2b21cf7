// Agent queue: live over WS /agent/live; waiting times tick every second.
"use strict";
(() => {
  const body = document.getElementById("queue-body");
  const empty = document.getElementById("queue-empty");
  const status = document.getElementById("live-status");
  function row(e) {
    const tr = document.createElement("tr");
    tr.dataset.created = e.created_at;
    tr.dataset.deadline = e.deadline_at || "";
    const a = Care.el("a", "Escalation " + e.id);
    a.href = "/agent/escalations/" + encodeURIComponent(e.id);
    const td1 = document.createElement("td"); td1.appendChild(a); tr.appendChild(td1);
    const td2 = document.createElement("td");
    td2.appendChild(Care.el("span", e.severity, "sev sev-" + e.severity.replace(/[^a-z]/g, "")));
    tr.appendChild(td2);
    tr.appendChild(Care.el("td", e.trigger.replace(/_/g, " ")));
    tr.appendChild(Care.el("td", e.channel));
    tr.appendChild(Care.el("td", "", "waiting"));
    tr.appendChild(Care.el("td", "", "deadline"));
    return tr;
  }
  function tick() {
    for (const tr of body.rows) {
      tr.querySelector(".waiting").textContent = Care.ago(tr.dataset.created);
      const d = tr.dataset.deadline;
      const cell = tr.querySelector(".deadline");
      if (!d) { cell.textContent = "—"; continue; }
      const left = Math.round((Date.parse(d) - Date.now()) / 1000);
      cell.textContent = left >= 0 ? "in " + left + " s" : "overdue by " + (-left) + " s";
    }
  }
  function connect() {
    const ws = new WebSocket(Care.wsUrl("/agent/live"));
    ws.onopen = () => { status.textContent = "Live: new items appear here by themselves."; };
    ws.onmessage = (m) => {
      const msg = JSON.parse(m.data);
      if (msg.type !== "queue") return;
      body.replaceChildren(...msg.items.map(row));
      empty.hidden = msg.items.length > 0;
      tick();
    };
    ws.onclose = () => { status.textContent = "Live updates lost; reconnecting…"; setTimeout(connect, 2000); };
  }
  tick(); setInterval(tick, 1000); connect();
})();
