// The Tradewind dashboard: polls the status API with the token and draws what it says.
// No framework; plotly (served by the app from the plotly package) draws the charts.
"use strict";

const REFRESH_MS = Number(document.body.dataset.refreshMs) || 5000;
const PAGE = 25;
let token = sessionStorage.getItem("tradewind-token") || "";
let offset = 0;
let timer = null;
let polls = 0;

const $ = (id) => document.getElementById(id);

function money(x) {
  return x === null || x === undefined ? "–" : x.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
}
function num(x, digits = 6) {
  return x === null || x === undefined ? "–" : Number(x.toPrecision(digits)).toString();
}
function pct(x) {
  return x === null || x === undefined ? "–" : (x * 100).toFixed(2) + " %";
}
function when(x) {
  return x ? x.replace("T", " ").replace(/(:\d\d)(\.\d+)?(\+00:00|Z)$/, "$1") : "–";
}

async function get(path) {
  const response = await fetch(path, { headers: { Authorization: "Bearer " + token } });
  if (response.status === 401) {
    throw Object.assign(new Error("the token was refused"), { auth: true });
  }
  if (!response.ok) {
    throw new Error(path + ": " + response.status);
  }
  return response.json();
}

function fill(tableId, rows, cells) {
  const body = $(tableId).querySelector("tbody");
  const out = document.createDocumentFragment();
  for (const row of rows) {
    const tr = document.createElement("tr");
    for (const cell of cells(row)) {
      const td = document.createElement("td");
      const [text, cls, value] = Array.isArray(cell) ? cell : [cell];
      td.textContent = text;
      if (cls) td.className = cls;
      if (value !== undefined && value !== null) td.dataset.value = String(value);
      tr.appendChild(td);
    }
    out.appendChild(tr);
  }
  body.replaceChildren(out);
}

function signed(x) {
  return x === null || x === undefined ? "" : x > 0 ? "pos" : x < 0 ? "neg" : "";
}

function setValue(id, text, value) {
  const el = $(id);
  el.textContent = text;
  if (value !== undefined && value !== null) el.dataset.value = String(value);
}

function drawEquity(eq) {
  const c = eq.curve;
  const a = eq.agents;
  const traces = [
    { x: c.at, y: c.equity, name: "cycle trader", type: "scatter", mode: "lines", line: { width: 1.5 } },
  ];
  if (a.at.length) {
    traces.push({ x: a.at, y: a.equity, name: "agents", type: "scatter", mode: "lines", line: { width: 1.5 } });
  }
  const dd = c.at.length ? c : a;
  traces.push({ x: dd.at, y: dd.drawdown.map((d) => d * 100), name: "drawdown %", type: "scatter", mode: "lines", fill: "tozeroy", yaxis: "y2", line: { width: 1, color: "#b42318" } });
  Plotly.react("equity-chart", traces, {
    title: { text: "Equity and drawdown", font: { size: 13 } },
    margin: { l: 60, r: 20, t: 34, b: 30 },
    grid: { rows: 2, columns: 1, roworder: "top to bottom" },
    yaxis: { domain: [0.32, 1], title: { text: "equity" } },
    yaxis2: { domain: [0, 0.24], title: { text: "DD %" } },
    xaxis: { anchor: "y2" },
    legend: { orientation: "h", y: 1.12 },
    uirevision: "keep",
  }, { displaylogo: false, responsive: true });
  const n = c.equity.length;
  $("equity-chart").dataset.points = String(n);
  $("equity-chart").dataset.last = n ? String(c.equity[n - 1]) : "";
}

function drawPools(budget) {
  const h = budget.history;
  const names = Object.keys(budget.now);
  const traces = names.map((k) => ({ x: h.map((r) => r.at), y: h.map((r) => r[k]), name: k, type: "scatter", mode: "lines", stackgroup: "pools", line: { width: 0.5, shape: "hv" } }));
  Plotly.react("pools-chart", traces, {
    title: { text: "Budget pools", font: { size: 13 } },
    margin: { l: 60, r: 20, t: 34, b: 30 },
    legend: { orientation: "h", y: -0.15 },
    uirevision: "keep",
  }, { displaylogo: false, responsive: true });
  fill("pools", names.map((k) => [k, budget.now[k]]), ([k, v]) => [k, [money(v), "", v]]);
}

function showStatus(s) {
  setValue("node", s.node ? "node " + s.node : s.view);
  setValue("mode", s.mode + (s.served_by === "book" ? " · book only" : ""));
  const safe = $("safe");
  safe.hidden = !s.safe_mode;
  safe.textContent = s.paused ? "PAUSED" : "SAFE MODE: " + (s.safe_mode || "");
  setValue("equity", money(s.equity), s.equity);
  setValue("capital", "capital " + money(s.capital));
  setValue("clock", when(s.clock));
  const f = s.freshness;
  const stale = Object.keys(f.stale);
  setValue("freshness", (stale.length ? "stale: " + stale.join(", ") + " · " : "") + "last candle " + when(f.last_candle) + (s.last_tick ? " · tick " + s.last_tick.ticks + " in " + (s.last_tick.seconds * 1000).toFixed(1) + " ms" : ""));
  if (s.last_tick) $("clock").dataset.ticks = String(s.last_tick.ticks);
  setValue("cycle", s.cycle ? "#" + s.cycle.cycle_no : "–", s.cycle ? s.cycle.cycle_no : null);
  setValue("trader-mode", s.trader_mode ? "trader " + s.trader_mode.replace("_", " ") : "");
  setValue("session-equity", s.session ? money(s.session.equity) : "–", s.session ? s.session.equity : null);
  setValue("session-note", s.agents.length + " agents");
  fill("agents", s.agents, (a) => [a.name, a.strategy || "", a.side || "", a.timeframe || "", [a.mode.replace("_", " "), a.mode === "dry_run" ? "neg" : ""], a.open, a.closed, [money(a.pnl), signed(a.pnl), a.pnl]]);
  $("nominator").textContent = s.nominator || "";
}

async function refresh() {
  const [status, equity, budget, open, closed, cycles, modes, models, logs] = await Promise.all([
    get("/api/status"),
    get("/api/equity?points=1500"),
    get("/api/budget?points=1500"),
    get("/api/trades/open"),
    get(`/api/trades/closed?limit=${PAGE}&offset=${offset}`),
    get("/api/cycles?limit=30"),
    get("/api/modes?limit=30"),
    get("/api/models"),
    get("/api/logs?limit=80"),
  ]);
  showStatus(status);
  const dd = equity.curve.drawdown;
  const last = dd.length ? dd[dd.length - 1] : null;
  const worst = dd.reduce((m, d) => Math.min(m, d), 0);
  setValue("drawdown", last === null ? "–" : pct(last), last);
  setValue("maxdd", "deepest " + pct(worst), worst);
  drawEquity(equity);
  drawPools(budget);
  setValue("open-count", `(${open.length})`, open.length);
  fill("open-trades", open, (t) => [t.pair, t.agent, t.side, t.status, num(t.entry_price), [num(t.price), "", t.price], [num(t.stop), "", t.stop], [pct(t.stop_distance), "", t.stop_distance], [num(t.target), "", t.target], [pct(t.target_distance), "", t.target_distance], num(t.qty), [money(t.unrealised_pnl), signed(t.unrealised_pnl), t.unrealised_pnl]]);
  setValue("closed-count", `(${closed.total})`, closed.total);
  $("page").textContent = closed.total ? `${offset + 1}–${Math.min(offset + PAGE, closed.total)} of ${closed.total}` : "none yet";
  fill("closed-trades", closed.items, (t) => [when(t.exit_at), t.pair, t.agent, t.kind, t.side, num(t.entry_price), num(t.exit_price), t.exit_reason || "", [money(t.pnl), signed(t.pnl), t.pnl], num(t.r_multiple, 3)]);
  fill("cycles", cycles, (c) => [c.cycle_no, when(c.start_at), when(c.end_at), c.mode.replace("_", " "), c.trades ?? "", [money(c.pnl), signed(c.pnl), c.pnl], [money(c.paper_pnl), signed(c.paper_pnl), c.paper_pnl], (c.next_mode || "").replace("_", " ")]);
  fill("modes", modes, (m) => [when(m.at), m.agent || "cycle trader", m.to_mode.replace("_", " "), m.reason]);
  fill("models", models.promoted, (m) => [m.scope, m.role, m.id, m.kind.split(".").pop(), when(m.promoted_at)]);
  $("logs").textContent = logs.map((l) => `${when(l.at)} ${l.level.padEnd(7)} ${l.message}`).join("\n");
  polls += 1;
  $("updated").textContent = "updated " + new Date().toLocaleTimeString();
  $("updated").dataset.polls = String(polls);
}

async function loop() {
  try {
    await refresh();
  } catch (err) {
    if (err.auth) {
      logout("the token was refused");
      return;
    }
    $("updated").textContent = "update failed: " + err.message;
  }
  timer = setTimeout(loop, REFRESH_MS);
}

async function login(value) {
  token = value.trim();
  clearTimeout(timer);
  // One request tries the token before the board asks for everything at once.
  try {
    await get("/api/status");
  } catch (err) {
    logout(err.auth ? "the token was refused" : "the server did not answer: " + err.message);
    return;
  }
  sessionStorage.setItem("tradewind-token", token);
  $("login").hidden = true;
  $("board").hidden = false;
  $("logout").hidden = false;
  loop();
}

function logout(why) {
  clearTimeout(timer);
  token = "";
  sessionStorage.removeItem("tradewind-token");
  $("board").hidden = true;
  $("logout").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = why || "";
}

window.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", (e) => {
    e.preventDefault();
    login($("token").value);
  });
  $("logout").addEventListener("click", () => logout(""));
  $("prev").addEventListener("click", () => { offset = Math.max(0, offset - PAGE); clearTimeout(timer); loop(); });
  $("next").addEventListener("click", () => { offset += PAGE; clearTimeout(timer); loop(); });
  // A link with #token=… logs in at once; the fragment never reaches the server.
  const fromLink = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromLink) {
    history.replaceState(null, "", location.pathname);
    login(fromLink);
  } else if (token) {
    login(token);
  }
});
