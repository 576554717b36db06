// The live overview: polls the dashboard API every 2 s (short polling: no connection held
// open, so server shutdown never waits on a browser) and redraws with the DOM API.
"use strict";

(() => {
  const { el, api, when, replaceRows, statusBadge, jobLink } = Q;
  const POLL_MS = 2000;
  const STATUSES = ["pending", "blocked", "leased", "succeeded", "dead", "cancelled"];
  const MODES = { postgres: "Postgres-only dispatch", redis: "Redis dispatch",
                  rebuilding: "Rebuilding Redis dispatch" };
  const $ = (id) => document.getElementById(id);

  // ---- Recent jobs: filters and keyset paging (a stack of cursors, one per page) ----
  const paging = { cursors: [null], next: null };
  const filters = () => ({ queue: $("f-queue").value.trim(), status: $("f-status").value,
                           type: $("f-type").value.trim(), payload: $("f-payload").value.trim(),
                           id_prefix: $("f-id-prefix").value.trim() });

  function jobRow(job) {
    return el("tr", { "data-job-id": job.id },
      el("td", {}, jobLink(job.id)), el("td", { text: job.type }), el("td", { text: job.queue }),
      el("td", {}, statusBadge(job.status)), el("td", { text: job.priority }),
      el("td", { text: job.attempts }), el("td", { text: when(job.created_at) }));
  }

  async function loadJobs() {
    const cursor = paging.cursors[paging.cursors.length - 1];
    let page = { jobs: [], next_cursor: null };
    let problem = "";
    try {
      page = await api("GET", "/dashboard/api/jobs", { ...filters(), cursor, limit: 20 });
    } catch (error) {  // a bad search term (400): said under the form; the rest still loads
      problem = error.message;
    }
    $("jobs-error").textContent = problem;
    $("jobs-error").hidden = !problem;
    replaceRows($("jobs").tBodies[0], page.jobs.map(jobRow));
    $("jobs-empty").hidden = page.jobs.length > 0 || Boolean(problem);
    paging.next = page.next_cursor;
    $("older").disabled = !paging.next;
    $("newer").disabled = paging.cursors.length === 1;
    $("page-no").textContent = `page ${paging.cursors.length}`;
  }

  // ---- Dead letters, with retry and delete ----
  function action(label, className, run) {
    return el("button", { type: "button", className, text: label, onclick: async (event) => {
      event.target.disabled = true;
      try { await run(); await refresh(); } catch (error) { showError(error); }
      finally { event.target.disabled = false; }
    } });
  }

  function deadRow(job) {
    return el("tr", { "data-job-id": job.id },
      el("td", {}, jobLink(job.id)), el("td", { text: job.type }), el("td", { text: job.queue }),
      el("td", { text: job.attempts }), el("td", { className: "error-text", text: job.last_error || "" }),
      el("td", { text: when(job.finished_at) }),
      el("td", { className: "actions" },
        action("Retry", "primary retry", () => api("POST", `/dashboard/api/jobs/${job.id}/retry`)),
        action("Delete", "danger delete", async () => {
          if (window.confirm("Delete this dead job for good?")) {
            await api("DELETE", `/dashboard/api/jobs/${job.id}`);
          }
        })));
  }

  async function loadDead() {
    const page = await api("GET", "/dashboard/api/jobs", { status: "dead", limit: 10 });
    replaceRows($("dead").tBodies[0], page.jobs.map(deadRow));
    $("dead-empty").hidden = page.jobs.length > 0;
  }

  // ---- Overview: mode banner, queues, workers, throughput ----
  function queueRow(row) {
    const cells = STATUSES.map((s) => el("td", { className: `n count-${s}`, text: row.counts[s] || 0 }));
    const path = `/dashboard/api/queues/${encodeURIComponent(row.queue)}`;
    const retryAll = row.counts.dead > 0
      ? action(`Retry dead (${row.counts.dead})`, "primary retry-all",
               () => api("POST", `${path}/retry-dead`))
      : "";
    const toggle = row.paused
      ? action("Resume", "primary resume", () => api("POST", `${path}/resume`))
      : action("Pause", "pause", () => api("POST", `${path}/pause`));
    const name = el("th", { scope: "row", text: row.queue });
    if (row.paused) name.append(" ", el("span", { className: "status status-paused", text: "paused" }));
    if (row.limits) name.append(" ", el("span", { className: "status status-limited", text: row.limits }));
    return el("tr", { "data-queue": row.queue, "data-paused": row.paused ? "true" : "false" },
      name, ...cells, el("td", { className: "n", text: row.total }),
      el("td", { className: "actions" }, toggle, retryAll));
  }

  function scheduleRow(sc) {
    const path = `/dashboard/api/schedules/${encodeURIComponent(sc.name)}`;
    const toggle = sc.paused
      ? action("Resume", "primary resume", () => api("POST", `${path}/resume`))
      : action("Pause", "pause", () => api("POST", `${path}/pause`));
    const name = el("th", { scope: "row", text: sc.name });
    if (sc.paused) name.append(" ", el("span", { className: "status status-paused", text: "paused" }));
    return el("tr", { "data-schedule": sc.name, "data-paused": sc.paused ? "true" : "false" }, name,
      el("td", {}, el("code", { text: sc.cron })), el("td", { text: sc.timezone }),
      el("td", { text: `${sc.job.type} → ${sc.job.queue || "default"}` }),
      el("td", { text: sc.paused ? "—" : when(sc.next_run_at) }),
      el("td", { text: sc.last_run_at ? when(sc.last_run_at) : "never" }),
      el("td", { className: "actions" }, toggle));
  }

  async function loadSchedules() {
    const data = await api("GET", "/dashboard/api/schedules");
    replaceRows($("schedules").tBodies[0], data.schedules.map(scheduleRow));
    $("schedules-empty").hidden = data.schedules.length > 0;
  }

  function webhookRow(hook) {
    const state = hook.enabled ? "enabled" : "disabled";
    return el("tr", { "data-webhook": hook.id }, el("th", { scope: "row", className: "mono", text: hook.id }),
      el("td", { className: "mono", text: hook.url }), el("td", { text: hook.events.join(", ") }),
      el("td", { text: hook.queue || "any" }), el("td", { text: hook.type || "any" }),
      el("td", {}, el("span", { className: `status status-${hook.enabled ? "succeeded" : "paused"}`, text: state })));
  }

  function deliveryRow(d) {
    const answer = d.response_status ? `HTTP ${d.response_status}` : (d.last_error || "—");
    return el("tr", { "data-delivery": d.id }, el("td", {}, jobLink(d.id)),
      el("td", { className: "mono", text: d.webhook || "—" }), el("td", { text: d.event || "—" }),
      el("td", {}, d.job_id ? jobLink(d.job_id) : "—"), el("td", {}, statusBadge(d.status)),
      el("td", { className: "n", text: d.attempts }), el("td", { text: answer }),
      el("td", { text: d.next_attempt_at ? when(d.next_attempt_at) : "—" }));
  }

  async function loadWebhooks() {
    let data;
    try {
      data = await api("GET", "/dashboard/api/webhooks");
    } catch (error) {  // an operator's session: webhooks are the admin's
      $("webhooks-empty").textContent = `Webhooks: ${error.message}`;
      return;
    }
    replaceRows($("webhooks").tBodies[0], data.webhooks.map(webhookRow));
    $("webhooks-empty").hidden = data.webhooks.length > 0;
    replaceRows($("deliveries").tBodies[0], data.deliveries.map(deliveryRow));
    $("deliveries-empty").hidden = data.deliveries.length > 0;
  }

  function workerRow(w) {
    return el("tr", { "data-replica": w.replica || "" }, el("td", { text: w.worker_id }),
      el("td", { text: w.queues.join(", ") }), el("td", { className: "n", text: w.in_flight }),
      el("td", { className: "mono", text: w.replica || "" }),
      el("td", { text: when(w.connected_at) }), el("td", { text: when(w.last_seen) }));
  }

  function serverRow(r) {
    const rate = (key) => (r.throughput ? r.throughput[key].toFixed(1) : "—");
    return el("tr", { "data-replica": r.id, className: r.live ? "" : "gone" },
      el("td", { className: "mono", text: r.id }), el("td", { text: r.version }),
      el("td", { text: r.live ? "live" : "gone" }),
      el("td", { className: "n", text: r.workers.length }),
      el("td", { className: "n", text: rate("enqueued") }),
      el("td", { className: "n", text: rate("succeeded") }),
      el("td", { text: when(r.started_at) }), el("td", { text: when(r.heartbeat_at) }));
  }

  function showMode(mode) {
    const banner = $("mode-banner");
    banner.textContent = MODES[mode] || mode;
    banner.className = `mode mode-${mode}`;
  }

  async function loadOverview() {
    const data = await api("GET", "/dashboard/api/overview");
    showMode(data.mode);
    replaceRows($("queues").tBodies[0], data.queues.map(queueRow));
    $("queues-empty").hidden = data.queues.length > 0;
    replaceRows($("workers").tBodies[0], data.workers.map(workerRow));
    $("workers-empty").hidden = data.workers.length > 0;
    replaceRows($("servers").tBodies[0], data.replicas.map(serverRow));
    drawChart($("chart"), data.throughput);
  }

  // ---- Throughput chart on a canvas: three lines, seconds on x, jobs/s on y ----
  const SERIES = [["enqueued", 1, "#3b82f6"], ["succeeded", 2, "#16a34a"], ["failed", 3, "#dc2626"]];

  function drawChart(canvas, points) {
    const ctx = canvas.getContext("2d");
    const w = canvas.width, h = canvas.height, pad = 28;
    ctx.clearRect(0, 0, w, h);
    const now = points.length ? points[points.length - 1][0] : Date.now() / 1000;
    const span = 300;
    const peak = Math.max(1, ...points.flatMap((p) => [p[1], p[2], p[3]]));
    ctx.strokeStyle = "#d4d4d8"; ctx.fillStyle = "#71717a"; ctx.font = "11px sans-serif";
    ctx.beginPath(); ctx.moveTo(pad, 4); ctx.lineTo(pad, h - pad); ctx.lineTo(w - 4, h - pad); ctx.stroke();
    ctx.fillText(peak.toFixed(peak < 10 ? 1 : 0), 2, 12);
    ctx.fillText("0", 12, h - pad);
    ctx.fillText("-5 min", pad, h - 10);
    ctx.fillText("now", w - 28, h - 10);
    const x = (t) => pad + ((t - (now - span)) / span) * (w - pad - 4);
    const y = (v) => h - pad - (v / peak) * (h - pad - 8);
    for (const [, index, color] of SERIES) {
      ctx.strokeStyle = color; ctx.lineWidth = 1.5; ctx.beginPath();
      points.forEach((p, i) => (i ? ctx.lineTo(x(p[0]), y(p[index])) : ctx.moveTo(x(p[0]), y(p[index]))));
      ctx.stroke();
    }
    const last = points[points.length - 1];
    $("chart-now").textContent = last
      ? `now: ${last[1].toFixed(1)} / ${last[2].toFixed(1)} / ${last[3].toFixed(1)} per s` : "";
  }

  // ---- The loop ----
  function showError(error) {
    $("status-line").textContent = `Error: ${error.message}`;
    $("status-line").className = "error";
  }

  let timer = null;
  async function refresh() {
    await Promise.all([loadOverview(), loadJobs(), loadDead(), loadSchedules(), loadWebhooks()]);
    $("status-line").textContent = `Updated ${new Date().toLocaleTimeString()}`;
    $("status-line").className = "muted";
  }

  async function tick() {
    clearTimeout(timer);
    try { if (!document.hidden) await refresh(); } catch (error) { showError(error); }
    timer = setTimeout(tick, POLL_MS);
  }

  $("filters").addEventListener("submit", (event) => {
    event.preventDefault(); paging.cursors = [null]; tick();
  });
  $("f-clear").addEventListener("click", () => {
    $("filters").reset(); paging.cursors = [null]; tick();
  });
  $("older").addEventListener("click", () => {
    if (paging.next) { paging.cursors.push(paging.next); tick(); }
  });
  $("newer").addEventListener("click", () => {
    if (paging.cursors.length > 1) { paging.cursors.pop(); tick(); }
  });
  document.addEventListener("visibilitychange", () => { if (!document.hidden) tick(); });
  tick();
})();
