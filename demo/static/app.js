// The product page as a frontend would build it: one cross-origin call to the BFF, degraded sections shown as such.
"use strict";

const API = (window.DEMO_CONFIG && window.DEMO_CONFIG.api) || "http://127.0.0.1:3000";
const OPTIONAL_SECTIONS = ["reviews", "inventory"];

const byTestId = (id) => document.querySelector(`[data-testid="${id}"]`);

function newCorrelationId() {
  const random = crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2);
  return `demo-${random}`;
}

async function load(productId) {
  const url = `${API}/product-details/${encodeURIComponent(productId)}`;
  const sent = newCorrelationId();
  reset(sent);
  let response;
  let body;
  try {
    // A custom header makes this a preflighted request: the API must answer the OPTIONS first.
    response = await fetch(url, { headers: { "X-Correlation-Id": sent, Accept: "application/json" } });
    body = await response.json();
  } catch (error) {
    showFailure(`${error.message}: is the API up, and started with CORS_ALLOWED_ORIGINS=${location.origin}?`);
    return;
  }
  byTestId("correlation-received").textContent = response.headers.get("X-Correlation-Id") || "(not readable)";
  if (response.ok) {
    renderPage(body);
  } else {
    renderProblem(response.status, body);
  }
  renderServerTiming(await timingEntry(url));
  setStatus(response.ok ? "ok" : "error", `${response.status} ${response.statusText || ""}`.trim());
}

function reset(sent) {
  setStatus("loading", "Loading…");
  byTestId("correlation-sent").textContent = sent;
  byTestId("correlation-received").textContent = "–";
  for (const id of ["problem", "page", "server-timing"]) byTestId(id).hidden = true;
}

function setStatus(phase, text) {
  const status = byTestId("status");
  status.dataset.phase = phase;
  status.textContent = text;
}

function showFailure(message) {
  renderProblem(0, { title: "The request failed", detail: message });
  setStatus("error", "failed");
}

function renderPage(page) {
  const degraded = new Map((page.meta?.degraded || []).map((entry) => [entry.source, entry]));
  byTestId("product-name").textContent = page.product.name;
  byTestId("product-description").textContent = page.product.description;
  byTestId("product-price").textContent = formatPrice(page.product.price);
  for (const name of OPTIONAL_SECTIONS) renderSectionState(name, page[name], degraded.get(name));
  if (page.reviews) renderReviews(page.reviews);
  if (page.inventory) renderInventory(page.inventory);
  byTestId("page").hidden = false;
}

function renderSectionState(name, value, degradation) {
  const section = byTestId(name);
  const note = byTestId(`${name}-note`);
  if (value === null) {
    section.dataset.state = "unavailable";
    note.textContent = `unavailable (${degradation ? degradation.reason : "no reason given"})`;
    byTestId(name === "reviews" ? "review-list" : "inventory-stock").replaceChildren();
  } else if (degradation && degradation.reason === "stale") {
    section.dataset.state = "stale";
    note.textContent = `stale, ${degradation.ageSeconds} s old`;
  } else {
    section.dataset.state = "ok";
    note.textContent = "";
  }
}

function renderReviews(reviews) {
  const items = reviews.map((review) => {
    const item = document.createElement("li");
    item.dataset.testid = "review";
    const stars = document.createElement("span");
    stars.className = "stars";
    stars.textContent = "★".repeat(review.rating) + "☆".repeat(5 - review.rating);
    item.append(stars, ` ${review.comment} — ${review.author}`);
    return item;
  });
  if (items.length === 0) items.push(Object.assign(document.createElement("li"), { textContent: "No reviews yet." }));
  byTestId("review-list").replaceChildren(...items);
}

function renderInventory(inventory) {
  byTestId("inventory-stock").textContent = inventory.stock > 0 ? `${inventory.stock} in stock` : "Out of stock";
}

function renderProblem(status, problem) {
  // problem+json from the BFF; anything else (an API Gateway {"message": ...}) still shows what it says.
  byTestId("problem-title").textContent = problem.title || problem.message || "Error";
  byTestId("problem-detail").textContent = problem.detail || "";
  byTestId("problem-status").textContent = status ? String(status) : "none (no response)";
  byTestId("problem").hidden = false;
}

function formatPrice(cents) {
  return (cents / 100).toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
}

// The browser records the resource entry once the body is read, which may land just after fetch() settles.
async function timingEntry(url) {
  for (let attempt = 0; attempt < 20; attempt += 1) {
    const entries = performance.getEntriesByName(url, "resource");
    if (entries.length) return entries[entries.length - 1];
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return null;
}

function renderServerTiming(entry) {
  const metrics = entry?.serverTiming || [];
  const longest = Math.max(1, ...metrics.map((metric) => metric.duration));
  const rows = metrics.map((metric) => {
    const row = document.createElement("tr");
    row.dataset.testid = "timing-row";
    row.dataset.name = metric.name;
    for (const text of [metric.name, metric.duration.toFixed(1), metric.description || ""]) {
      row.append(Object.assign(document.createElement("td"), { textContent: text }));
    }
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.style.width = `${(100 * metric.duration) / longest}%`;
    row.append(Object.assign(document.createElement("td"), { className: "bar-cell" }));
    row.lastChild.append(bar);
    return row;
  });
  byTestId("timing-rows").replaceChildren(...rows);
  byTestId("browser-duration").textContent = entry ? `(the browser saw ${entry.duration.toFixed(0)} ms)` : "";
  const note = byTestId("server-timing-note");
  note.hidden = rows.length > 0;
  note.textContent = "Not readable from this page: the response carries no Timing-Allow-Origin for this origin.";
  byTestId("server-timing").hidden = false;
}

function start() {
  const input = byTestId("product-id");
  input.value = new URLSearchParams(location.search).get("id") || input.value;
  byTestId("api-url").textContent = API;
  byTestId("lookup").addEventListener("submit", (event) => {
    event.preventDefault();
    const id = input.value.trim();
    history.replaceState(null, "", `?id=${encodeURIComponent(id)}`);
    load(id);
  });
  load(input.value.trim());
}

start();
