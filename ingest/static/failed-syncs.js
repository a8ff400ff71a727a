// Review of failed syncs. Plain JavaScript, no build step. The access token
// lives only in this page's memory (never a cookie or storage): reloading
// the page signs out. Every value from the server is inserted as text.
"use strict";

const state = { token: null, status: "open", reason: null, selected: null };
const $ = (id) => document.getElementById(id);

function say(text) { $("message").textContent = text || ""; }

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${state.token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) throw new Error((data && data.error && data.error.message) || `HTTP ${response.status}`);
  return data;
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text;
  row.appendChild(td);
}

function when(iso) { return iso ? new Date(iso).toLocaleString() : "—"; }
// UUIDv7 ids start with a timestamp; their random tail tells orders apart.
function short(id) { return `…${id.slice(-8)}`; }
function rupiah(n) { return `Rp ${Number(n).toLocaleString("id-ID")}`; }

async function signIn(event) {
  event.preventDefault();
  say("");
  const response = await fetch("/api/auth/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ email: $("email").value, password: $("password").value }),
  });
  const data = await response.json().catch(() => null);
  if (!response.ok) return say((data && data.error && data.error.message) || "Sign-in failed");
  if (!["owner", "admin", "supervisor"].includes(data.user.role)) return say("This page is for owners, admins and supervisors.");
  state.token = data.accessToken;
  $("who").textContent = `${data.user.email} (${data.user.role})`;
  $("signin-form").hidden = true;
  $("review").hidden = false;
  await refresh();
}

async function refresh() {
  try {
    const summary = await api("GET", `/api/failed-syncs/summary?status=${state.status}`);
    const reasons = $("reasons");
    reasons.replaceChildren();
    const all = document.createElement("button");
    all.type = "button";
    all.textContent = `All (${summary.total})`;
    all.setAttribute("aria-pressed", String(state.reason === null));
    all.onclick = () => { state.reason = null; refresh(); };
    reasons.appendChild(all);
    for (const group of summary.byReason) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "reason-filter";
      button.dataset.reason = group.code;
      button.textContent = `${group.code} (${group.count})`;
      button.setAttribute("aria-pressed", String(state.reason === group.code));
      button.onclick = () => { state.reason = group.code; refresh(); };
      reasons.appendChild(button);
    }
    const query = new URLSearchParams({ status: state.status, limit: "200" });
    if (state.reason) query.set("reason", state.reason);
    const list = await api("GET", `/api/failed-syncs?${query}`);
    const body = $("list").querySelector("tbody");
    body.replaceChildren();
    for (const item of list.data) {
      const row = document.createElement("tr");
      row.dataset.id = item.id;
      row.className = "item";
      cell(row, item.reason.code);
      cell(row, short(item.clientOrderId));
      cell(row, when(item.order.createdAt));
      cell(row, rupiah(item.order.payment.amount));
      cell(row, String(item.attempts));
      row.onclick = () => open(item.id);
      body.appendChild(row);
    }
    $("empty").hidden = list.data.length > 0;
  } catch (error) {
    say(error.message);
  }
}

async function open(id) {
  try {
    const item = await api("GET", `/api/failed-syncs/${id}`);
    const order = await api("GET", `/api/orders/${item.orderId}`);
    state.selected = item;
    for (const row of $("list").querySelectorAll("tbody tr")) row.classList.toggle("selected", row.dataset.id === id);
    $("detail").hidden = false;
    $("detail-title").textContent = `Order ${short(item.clientOrderId)}`;
    $("detail-reason").textContent = `${item.reason.code}: ${item.reason.message}`;
    const facts = $("detail-facts");
    facts.replaceChildren();
    const fact = (term, value) => {
      const dt = document.createElement("dt");
      dt.textContent = term;
      const dd = document.createElement("dd");
      dd.textContent = value;
      facts.append(dt, dd);
    };
    fact("Status", item.status);
    fact("Source", `${order.source}${item.deviceId ? ` (till ${item.deviceId})` : ""}`);
    fact("Sold at", when(order.createdAt));
    fact("Received at", when(order.receivedAt));
    fact("Attempts", String(item.attempts));
    fact("Payment", `${item.order.payment.method} ${rupiah(item.order.payment.amount)}`);
    const lines = $("detail-lines").querySelector("tbody");
    lines.replaceChildren();
    const names = await Promise.all(item.order.items.map((line) =>
      api("GET", `/api/products/${line.productId}`).then((p) => p.name, () => `unknown product ${short(line.productId)}`)));
    for (const [index, line] of item.order.items.entries()) {
      const row = document.createElement("tr");
      cell(row, names[index]);
      cell(row, String(line.quantity));
      cell(row, rupiah(line.price));
      lines.appendChild(row);
    }
    const history = $("detail-history");
    history.replaceChildren();
    for (const entry of item.history) {
      const li = document.createElement("li");
      li.textContent = `${when(entry.at)} · ${entry.action} by ${entry.by}${entry.note ? ` — ${entry.note}` : ""}`;
      history.appendChild(li);
    }
    $("actions").hidden = item.status !== "open";
  } catch (error) {
    say(error.message);
  }
}

async function retry() {
  const item = state.selected;
  if (!item) return;
  const overrides = { acceptClientPrices: $("accept-client-prices").checked, allowOversell: $("allow-oversell").checked };
  try {
    await api("POST", `/api/failed-syncs/${item.id}/retry`, { overrides });
    say(`Retry sent for order ${short(item.clientOrderId)}.`);
    $("accept-client-prices").checked = false;
    $("allow-oversell").checked = false;
    await open(item.id);
    await refresh();
  } catch (error) {
    say(error.message);
  }
}

async function discard() {
  const item = state.selected;
  const reason = $("discard-reason").value.trim();
  if (!item) return;
  if (!reason) return say("Say why it is discarded.");
  try {
    await api("POST", `/api/failed-syncs/${item.id}/discard`, { reason });
    say(`Discarded order ${short(item.clientOrderId)}.`);
    $("discard-reason").value = "";
    $("detail").hidden = true;
    await refresh();
  } catch (error) {
    say(error.message);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("signin-form").addEventListener("submit", signIn);
  $("status").addEventListener("change", (event) => { state.status = event.target.value; state.reason = null; $("detail").hidden = true; refresh(); });
  $("retry").addEventListener("click", retry);
  $("discard").addEventListener("click", discard);
});
