// k6 load test of the deployment plan: 50 users × 10 orders against one
// product whose stock is smaller than the demand, then a stock audit.
// A share of the orders is paid by split tender (QRIS plus cash with
// change), and a share of the committed ones gets a refund of one unit
// (goods back to stock as a `return` movement). Half the orders are sold
// at a second outlet ("k6 stall", made once, stocked with half the product
// by a stock transfer), the rest at the default one.
//   k6 run -e BASE_URL=https://staging.example -e OWNER_EMAIL=... -e OWNER_PASSWORD=... scripts/load-test-stock.js
// Thresholds: p95 < 500 ms, error rate < 1 %, no overselling.
import http from "k6/http";
import { check, sleep } from "k6";
import { Counter } from "k6/metrics";
import crypto from "k6/crypto";

const BASE = __ENV.BASE_URL || "http://localhost:8080";
const STOCK = Number(__ENV.STOCK || 300);
const PRICE = 10000;
// Shares of the traffic: orders paid by split tender, committed orders refunded.
const SPLIT_SHARE = Number(__ENV.SPLIT_SHARE || 0.3);
const REFUND_SHARE = Number(__ENV.REFUND_SHARE || 0.2);
const oversold = new Counter("oversold");
const stockMismatch = new Counter("stock_mismatch");

export const options = {
  scenarios: {
    stock: { executor: "per-vu-iterations", vus: 50, iterations: 10, maxDuration: "5m" },
  },
  // The audit waits for pending orders and refunds (a minute each at most).
  teardownTimeout: "3m",
  thresholds: {
    "http_req_duration{kind:order}": ["p(95)<500"],
    "http_req_failed{kind:order}": ["rate<0.01"],
    "http_req_failed{kind:refund}": ["rate<0.01"],
    oversold: ["count==0"],
    stock_mismatch: ["count==0"],
  },
};

function uuidv4() {
  const b = new Uint8Array(crypto.randomBytes(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function headers(token) {
  return { headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` } };
}

// The total of an order of `n` rupiah after discounts under the shop's
// settings (GET /api/settings), as the worker computes it: service charge
// and tax in basis points, every share rounded down to a whole rupiah.
function orderTotal(settings, n) {
  const share = (amount, bp) => Math.floor((amount * bp) / 10000);
  const t = settings.taxMode === "none" ? 0 : settings.taxRateBp;
  if (settings.taxMode === "inclusive") {
    const net = Math.floor((n * 10000) / (10000 + t));
    const s = share(net, settings.serviceChargeBp);
    return n + s + (settings.serviceChargeTaxed ? share(s, t) : 0);
  }
  const s = share(n, settings.serviceChargeBp);
  return n + s + share(settings.serviceChargeTaxed ? n + s : n, t);
}

export function setup() {
  const login = http.post(`${BASE}/api/auth/login`, JSON.stringify({ email: __ENV.OWNER_EMAIL, password: __ENV.OWNER_PASSWORD }), {
    headers: { "Content-Type": "application/json" },
  });
  check(login, { "signed in": (r) => r.status === 200 });
  const token = login.json("accessToken");
  const sku = `K6-${uuidv4().slice(0, 8)}`;
  const product = http.post(`${BASE}/api/products`, JSON.stringify({ sku, name: `k6 ${sku}`, price: PRICE, stock: STOCK }), headers(token));
  check(product, { "product created": (r) => r.status === 201 });
  const settings = http.get(`${BASE}/api/settings`, headers(token));
  check(settings, { "settings read": (r) => r.status === 200 });
  const total = settings.status === 200 ? orderTotal(settings.json(), PRICE) : PRICE;
  const stallId = stall(token);
  if (stallId) stockStall(token, product.json("id"), stallId);
  // The sales fall in the signed-in cashier's open shift (one per outlet;
  // 409 shift_already_open from an earlier run is fine: that one is used).
  const shifts = [null, stallId].filter((o, i) => i === 0 || o).map((outletId) => {
    const opened = http.post(`${BASE}/api/shifts`, JSON.stringify({ outletId, openingFloat: 100000 }), headers(token));
    check(opened, { "shift opened": (r) => r.status === 201 || r.status === 409 });
    return opened.status === 201 ? opened.json("shiftId") : null;
  });
  return { token, productId: product.json("id"), total, stallId, shifts: shifts.filter((s) => s) };
}

// Close the run's shifts with what their Z-reports expect: over/short 0.
function closeShifts(data) {
  for (const id of data.shifts || []) {
    const report = http.get(`${BASE}/api/shifts/${id}`, headers(data.token));
    const counted = report.json("cashExpected");
    const closed = http.post(`${BASE}/api/shifts/${id}/close`, JSON.stringify({ countedCash: counted }), headers(data.token));
    check(closed, { "shift closed, nothing over or short": (r) => r.status === 200 && r.json("overShort") === 0 });
  }
}

// Each outlet has its own stock: half of the product moves to the stall by
// a stock transfer (committed by a worker; the orders there wait for it).
function stockStall(token, productId, stallId) {
  const outlets = http.get(`${BASE}/api/outlets`, headers(token));
  const main = (outlets.json("data") || []).find((o) => o.isDefault);
  if (!main) return;
  const body = { clientTransferId: uuidv4(), fromOutletId: main.id, toOutletId: stallId,
                 items: [{ productId, quantity: Math.floor(STOCK / 2) }] };
  const sent = http.post(`${BASE}/api/stock-transfers`, JSON.stringify(body), headers(token));
  check(sent, { "stall stocked": (r) => r.status === 202 });
}

// A second outlet, made once (409 name_taken on later runs: found instead).
// Half the orders name it; the rest name none and go to the default outlet.
function stall(token) {
  const made = http.post(`${BASE}/api/outlets`, JSON.stringify({ name: "k6 stall" }), headers(token));
  if (made.status === 201) return made.json("id");
  const listed = http.get(`${BASE}/api/outlets?search=k6%20stall`, headers(token));
  check(listed, { "outlets listed": (r) => r.status === 200 });
  const found = (listed.json("data") || []).find((o) => o.name === "k6 stall");
  return found ? found.id : null;
}

export default function (data) {
  // Cash is tendered in whole Rp 1,000 notes, so cash rounding never makes it short.
  const cash = (amount) => Math.ceil(amount / 1000) * 1000;
  const order = {
    clientOrderId: uuidv4(),
    items: [{ productId: data.productId, quantity: 1, price: PRICE }],
  };
  if (data.stallId && Math.random() < 0.5) order.outletId = data.stallId;
  if (Math.random() < SPLIT_SHARE) {
    // Split tender: part by QRIS (exact), the rest in cash with change.
    const qris = Math.max(1, Math.floor((data.total * (0.2 + 0.6 * Math.random())) / 100) * 100);
    order.payments = [
      { method: "qris", amount: qris, reference: `k6-${order.clientOrderId.slice(0, 8)}` },
      { method: "cash", amount: data.total - qris + 1000 },
    ];
  } else {
    order.payment = { method: "cash", amount: cash(data.total) };
  }
  const params = Object.assign(headers(data.token), { tags: { kind: "order" } });
  const reply = http.post(`${BASE}/api/orders?wait=5000`, JSON.stringify(order), params);
  check(reply, {
    "committed, rejected for stock, or still queued": (r) =>
      r.status === 201 || r.status === 202 || (r.status === 200 && r.json("rejection.code") === "insufficient_stock"),
    "sold at the outlet it named": (r) => r.status !== 201 || !order.outletId || r.json("outletId") === order.outletId,
  });
  if (reply.status === 201 && Math.random() < REFUND_SHARE) {
    // The order committed: bring one unit back (paid back by cash, as it took cash).
    const refund = { clientRefundId: uuidv4(), items: [{ productId: data.productId, quantity: 1 }], reason: "k6 return" };
    const refundParams = Object.assign(headers(data.token), { tags: { kind: "refund" } });
    const refunded = http.post(`${BASE}/api/orders/${reply.json("orderId")}/refunds?wait=5000`, JSON.stringify(refund), refundParams);
    check(refunded, {
      "refund committed or still queued": (r) => r.status === 201 || r.status === 202,
    });
  }
  sleep(0.05);
}

// Every committed order took one unit and every committed refund gave one
// back: expected stock = initial − committed + returned.
export function teardown(data) {
  const auth = headers(data.token);
  for (let i = 0; i < 60; i++) {
    const pending = http.get(`${BASE}/api/orders?status=pending&limit=1`, auth).json("data");
    if (!pending || pending.length === 0) break;
    sleep(1);
  }
  closeShifts(data);
  let committed = 0;
  const committedOrders = [];
  let cursor = null;
  do {
    const url = `${BASE}/api/orders?status=committed&limit=500${cursor ? `&cursor=${cursor}` : ""}`;
    const page = http.get(url, auth).json();
    for (const o of page.data) {
      let mine = false;
      for (const item of o.items) {
        if (item.productId === data.productId) {
          committed += item.quantity;
          mine = true;
        }
      }
      if (mine) committedOrders.push(o.orderId);
    }
    cursor = page.nextCursor;
  } while (cursor);
  // Refunds still pending are waited for (a minute at most), then counted.
  let returned = 0;
  for (let i = 0; i < 60; i++) {
    let pendingRefunds = 0;
    returned = 0;
    for (const orderId of committedOrders) {
      for (const refund of http.get(`${BASE}/api/orders/${orderId}/refunds`, auth).json("data") || []) {
        if (refund.status === "pending") pendingRefunds += 1;
        if (refund.status !== "committed") continue;
        for (const item of refund.items) if (item.productId === data.productId) returned += item.quantity;
      }
    }
    if (pendingRefunds === 0) break;
    sleep(1);
  }
  const product = http.get(`${BASE}/api/products/${data.productId}`, auth).json();
  const expected = STOCK - committed + returned;
  if (product.stock < 0 || committed > STOCK + returned) oversold.add(1);
  if (product.stock !== expected) stockMismatch.add(1);
  let ledger = 0;
  let ledgerReturns = 0;
  cursor = null;
  do {
    const url = `${BASE}/api/products/${data.productId}/stock-movements?limit=500${cursor ? `&cursor=${cursor}` : ""}`;
    const page = http.get(url, auth).json();
    for (const m of page.data) {
      ledger += m.delta;
      if (m.kind === "return") ledgerReturns += m.delta;
    }
    cursor = page.nextCursor;
  } while (cursor);
  if (ledger !== product.stock) stockMismatch.add(1);
  if (ledgerReturns !== returned) stockMismatch.add(1);
  console.log(
    `stock ${STOCK} → ${product.stock}; committed ${committed}; returned ${returned}; expected ${expected}; ledger ${ledger} (returns ${ledgerReturns})`,
  );
}
