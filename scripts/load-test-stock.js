// k6 load test of the deployment plan: 50 users × 10 orders against one
// product whose stock is smaller than the demand, then a stock audit.
//   k6 run -e BASE_URL=https://staging.example -e OWNER_EMAIL=... -e OWNER_PASSWORD=... scripts/load-test-stock.js
// Thresholds: p95 < 500 ms, error rate < 1 %, no overselling.
import http from "k6/http";
import { check, sleep } from "k6";
import { Counter } from "k6/metrics";
import crypto from "k6/crypto";

const BASE = __ENV.BASE_URL || "http://localhost:8080";
const STOCK = Number(__ENV.STOCK || 300);
const PRICE = 10000;
const oversold = new Counter("oversold");
const stockMismatch = new Counter("stock_mismatch");

export const options = {
  scenarios: {
    stock: { executor: "per-vu-iterations", vus: 50, iterations: 10, maxDuration: "5m" },
  },
  thresholds: {
    "http_req_duration{kind:order}": ["p(95)<500"],
    "http_req_failed{kind:order}": ["rate<0.01"],
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

export function setup() {
  const login = http.post(`${BASE}/api/auth/login`, JSON.stringify({ email: __ENV.OWNER_EMAIL, password: __ENV.OWNER_PASSWORD }), {
    headers: { "Content-Type": "application/json" },
  });
  check(login, { "signed in": (r) => r.status === 200 });
  const token = login.json("accessToken");
  const sku = `K6-${uuidv4().slice(0, 8)}`;
  const product = http.post(`${BASE}/api/products`, JSON.stringify({ sku, name: `k6 ${sku}`, price: PRICE, stock: STOCK }), headers(token));
  check(product, { "product created": (r) => r.status === 201 });
  return { token, productId: product.json("id") };
}

export default function (data) {
  const order = {
    clientOrderId: uuidv4(),
    items: [{ productId: data.productId, quantity: 1, price: PRICE }],
    payment: { method: "cash", amount: PRICE },
  };
  const params = Object.assign(headers(data.token), { tags: { kind: "order" } });
  const reply = http.post(`${BASE}/api/orders?wait=5000`, JSON.stringify(order), params);
  check(reply, {
    "committed, rejected for stock, or still queued": (r) =>
      r.status === 201 || r.status === 202 || (r.status === 200 && r.json("rejection.code") === "insufficient_stock"),
  });
  sleep(0.05);
}

// Every committed order took one unit: expected stock = initial − committed.
export function teardown(data) {
  const auth = headers(data.token);
  for (let i = 0; i < 60; i++) {
    const pending = http.get(`${BASE}/api/orders?status=pending&limit=1`, auth).json("data");
    if (!pending || pending.length === 0) break;
    sleep(1);
  }
  let committed = 0;
  let cursor = null;
  do {
    const url = `${BASE}/api/orders?status=committed&limit=500${cursor ? `&cursor=${cursor}` : ""}`;
    const page = http.get(url, auth).json();
    for (const o of page.data) {
      for (const item of o.items) if (item.productId === data.productId) committed += item.quantity;
    }
    cursor = page.nextCursor;
  } while (cursor);
  const product = http.get(`${BASE}/api/products/${data.productId}`, auth).json();
  const expected = STOCK - committed;
  if (product.stock < 0 || committed > STOCK) oversold.add(1);
  if (product.stock !== expected) stockMismatch.add(1);
  let ledger = 0;
  cursor = null;
  do {
    const url = `${BASE}/api/products/${data.productId}/stock-movements?limit=500${cursor ? `&cursor=${cursor}` : ""}`;
    const page = http.get(url, auth).json();
    for (const m of page.data) ledger += m.delta;
    cursor = page.nextCursor;
  } while (cursor);
  if (ledger !== product.stock) stockMismatch.add(1);
  console.log(`stock ${STOCK} → ${product.stock}; committed ${committed}; expected ${expected}; ledger ${ledger}`);
}
