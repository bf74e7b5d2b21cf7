// Kiosk page: find or register the visitor, talk through the microphone (WS /kiosk/audio),
// hear the replies, read the live transcript, edit contacts, escalate. No timeouts: nothing
// on this page expires or clears by itself.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const status = (t) => { $("kiosk-status").textContent = t; };
  let customer = null, visit = null, ws = null, ctx = null, stream = null, node = null;
  let playAt = 0; let sources = []; let markTimers = [];
  let problem = null, ended = false, leaving = false;  // what the server said went wrong; the visit's end

  function showVisitor(c) {
    customer = c;
    $("visitor-name").textContent = c ? c.name : "someone new (no name)";
    $("visitor").hidden = false;
    $("contacts-card").hidden = !c; $("history-card").hidden = !c;
    $("search-results").replaceChildren();
    if (c) loadCustomer(c.id);
    status(c ? "Selected " + c.name + ". Press Start talking when ready." : "Press Start talking when ready.");
    $("start-visit").focus();
  }
  async function loadCustomer(id) {
    try {
      const v = await Care.api("GET", "/api/kiosk/customers/" + encodeURIComponent(id));
      renderContacts(v.contacts);
      $("visitor-history").replaceChildren(...v.history.map((h) =>
        Care.el("li", h.channel + " " + new Date(h.started_at).toLocaleString() + (h.outcome ? ": " + h.outcome.replace(/_/g, " ") : ""))));
      $("visitor-tickets").replaceChildren(...v.tickets.map((t) =>
        Care.el("li", "Ticket " + t.reference + " (" + t.status.replace(/_/g, " ") + "): " + t.summary)));
    } catch (e) { status("Could not load the visitor: " + e.message); }
  }
  function renderContacts(list) {
    $("contact-list").replaceChildren(...list.map((c) => {
      const li = Care.el("li", c.name + " (" + c.relationship + ") " + c.phone + " — " +
        (c.consent_at && !c.consent_withdrawn_at ? "consent given by " + c.consent_by : "no consent yet"));
      const rm = Care.el("button", "Remove " + c.name, "secondary"); rm.type = "button";
      rm.addEventListener("click", async () => {
        try { await Care.api("DELETE", "/api/kiosk/customers/" + customer.id + "/contacts/" + c.id); loadCustomer(customer.id); }
        catch (e) { status("Could not remove: " + e.message); }
      });
      li.appendChild(document.createTextNode(" ")); li.appendChild(rm);
      return li;
    }));
  }
  $("search-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const found = await Care.api("GET", "/api/kiosk/customers?q=" + encodeURIComponent($("search-q").value));
      $("search-results").replaceChildren(...found.map((c) => {
        const li = document.createElement("li");
        const b = Care.el("button", c.name + (c.phone ? ", " + c.phone : ""), "big secondary");
        b.type = "button"; b.addEventListener("click", () => showVisitor(c));
        li.appendChild(b); return li;
      }));
      status(found.length ? found.length + " found: choose one." : "Nobody found. Register a new visitor below.");
    } catch (e) { status("Search failed: " + e.message); }
  });
  $("new-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const c = await Care.api("POST", "/api/kiosk/customers", { name: $("new-name").value, phone: $("new-phone").value || null });
      showVisitor(c);
    } catch (e) { status("Could not register: " + e.message); }
  });
  $("anon-visit").addEventListener("click", () => showVisitor(null));
  $("contact-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await Care.api("POST", "/api/kiosk/customers/" + customer.id + "/contacts", {
        name: $("c-name").value, relationship: $("c-rel").value, phone: $("c-phone").value,
        consent_given_by: $("c-consent").value });
      for (const id of ["c-name", "c-rel", "c-phone", "c-consent"]) $(id).value = "";
      status("Contact saved."); loadCustomer(customer.id);
    } catch (e) { status("Could not save the contact: " + e.message); }
  });

  // ---- audio
  function play(buf) {
    const pcm = new Int16Array(buf);
    if (!pcm.length) return;
    const ab = ctx.createBuffer(1, pcm.length, 8000);
    const f = ab.getChannelData(0);
    for (let i = 0; i < pcm.length; i++) f[i] = pcm[i] / 32768;
    const src = ctx.createBufferSource(); src.buffer = ab; src.connect(ctx.destination);
    playAt = Math.max(playAt, ctx.currentTime + 0.05);
    src.start(playAt); playAt += ab.duration; sources.push(src);
    src.onended = () => { sources = sources.filter((s) => s !== src); };
  }
  function mark(name) {
    const wait = Math.max(0, (playAt - ctx.currentTime) * 1000);
    markTimers.push(setTimeout(() => { if (ws && ws.readyState === 1) ws.send(JSON.stringify({ type: "mark", name })); }, wait));
  }
  function clearPlayback() {
    for (const s of sources) { try { s.stop(); } catch (e) { /* already ended */ } }
    sources = []; playAt = 0; markTimers.forEach(clearTimeout); markTimers = [];
  }
  function addLine(speaker, text, intent) {
    const li = Care.el("li", null, "who-" + (speaker === "visitor" ? "caller" : "system"));
    const who = speaker === "visitor" ? "Visitor" : speaker === "problem" ? "Problem" : "Care line";
    li.appendChild(Care.el("span", who, "speaker"));
    li.appendChild(document.createTextNode(" "));
    li.appendChild(Care.el("span", text, "text"));
    if (intent) li.appendChild(Care.el("span", " → " + intent, "intent"));
    const list = $("kiosk-transcript"); list.appendChild(li); list.scrollTop = list.scrollHeight;
  }
  async function startMic() {
    stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false } });
    const src = ctx.createMediaStreamSource(stream);
    await ctx.audioWorklet.addModule("/static/kiosk-worklet.js");
    node = new AudioWorkletNode(ctx, "kiosk-capture");
    node.port.onmessage = (m) => { if (ws && ws.readyState === 1) ws.send(m.data); };
    src.connect(node);
    $("mic-status").textContent = "Microphone on: the visitor can speak.";
  }
  $("start-visit").addEventListener("click", async () => {
    $("start-visit").disabled = true;
    try {
      ctx = ctx || new AudioContext();
      await ctx.resume();
      problem = null; ended = false; leaving = false;
      visit = (await Care.api("POST", "/api/kiosk/visits", { customer_id: customer ? customer.id : null })).call_sid;
      ws = new WebSocket(Care.wsUrl("/kiosk/audio?visit=" + encodeURIComponent(visit)));
      ws.binaryType = "arraybuffer";
      ws.onopen = async () => {
        ws.send(JSON.stringify({ type: "hello", rate: 16000 }));
        try { await startMic(); } catch (e) { $("mic-status").textContent = "No microphone: " + e.message; }
      };
      ws.onmessage = (m) => {
        if (typeof m.data !== "string") { play(m.data); return; }
        const msg = JSON.parse(m.data);
        if (msg.type === "mark") mark(msg.name);
        else if (msg.type === "clear") clearPlayback();
        else if (msg.type === "transcript") addLine(msg.speaker, msg.text, msg.intent);
        else if (msg.type === "escalated") $("escalate-result").textContent = "An agent has been asked to help (" + msg.severity + ").";
        else if (msg.type === "ended") {
          ended = true;
          status((problem ? "Problem: " + problem + " " : "") + "The conversation has been handed on. The visit record is kept.");
        } else if (msg.type === "error") {
          problem = msg.detail; status("Problem: " + msg.detail); addLine("problem", msg.detail);
        }
      };
      ws.onclose = (ev) => {
        $("mic-status").textContent = "Microphone off.";
        if (!ended && !leaving && ev.code !== 1000) {
          // never a page that looks alive when the conversation behind it has stopped
          status((problem ? "Problem: " + problem + " " : "") + "The conversation has stopped (connection closed, code " + ev.code +
            "). Use the escalation button if the visitor needs a person, or end the visit and start again.");
        }
      };
      $("talk").hidden = false; $("end-visit").disabled = false;
      status("Visit started. The visitor can talk now.");
    } catch (e) { status("Could not start: " + e.message); $("start-visit").disabled = false; }
  });
  $("end-visit").addEventListener("click", async () => {
    leaving = true;
    try { await Care.api("POST", "/api/kiosk/visits/" + encodeURIComponent(visit) + "/end"); } catch (e) { /* already ended */ }
    if (stream) stream.getTracks().forEach((t) => t.stop());
    if (ws) ws.close();
    clearPlayback(); $("end-visit").disabled = true; $("start-visit").disabled = false;
    status("Visit ended. The transcript is kept in the visitor's history.");
  });
  $("apply-settings").addEventListener("click", async () => {
    if (!visit) { status("Start a visit first."); return; }
    try {
      const r = await Care.api("POST", "/api/kiosk/visits/" + encodeURIComponent(visit) + "/settings",
        { dialect: $("dialect").value, rate_wpm: Number($("rate").value) });
      status("Now speaking " + r.dialect + " at " + r.rate_wpm + " words a minute.");
    } catch (e) { status("Could not change: " + e.message); }
  });
  async function escalate(to) {
    if (!visit) { status("Start a visit first."); return; }
    try {
      const r = await Care.api("POST", "/api/kiosk/visits/" + encodeURIComponent(visit) + "/escalate", { to });
      $("escalate-result").textContent = (to === "agent" ? "An agent has been asked to help" : "Emergency contacts are being called") +
        " (escalation " + r.escalation_id + ", " + r.severity + "). The conversation so far goes with it.";
    } catch (e) { $("escalate-result").textContent = "Could not escalate: " + e.message; }
  }
  $("escalate-agent").addEventListener("click", () => escalate("agent"));
  $("escalate-contacts").addEventListener("click", () => escalate("contacts"));
})();
