// demo/static/app.js, which the page loads, is this file as tsc compiles it (make client): edit demo/src/app.ts.
const API = window.DEMO_CONFIG?.api ?? "http://127.0.0.1:3000";
const OPTIONAL_SECTIONS = ["reviews", "inventory"];
const TOTAL_METRIC = "total";
function byTestId(id) {
    const element = document.querySelector(`[data-testid="${id}"]`);
    if (element === null)
        throw new Error(`the page has no [data-testid="${id}"]`);
    return element;
}
function newCorrelationId() {
    return `demo-${crypto.randomUUID()}`;
}
function pagePath(productId) {
    return `/product-details/${encodeURIComponent(productId)}`;
}
async function load(productId) {
    const url = `${API}${pagePath(productId)}`;
    const sent = newCorrelationId();
    reset(sent);
    // A custom header makes this a preflighted request: the API must answer the OPTIONS first.
    const headers = { "X-Correlation-Id": sent, Accept: "application/json" };
    let response;
    let body;
    try {
        response = await fetch(url, { headers });
        body = await response.json();
    }
    catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        showFailure(`${reason}: is the API up, and started with CORS_ALLOWED_ORIGINS=${location.origin}?`);
        return;
    }
    byTestId("correlation-received").textContent = response.headers.get("X-Correlation-Id") ?? "(not readable)";
    if (response.ok) {
        renderPage(body);
    }
    else {
        renderProblem(response.status, body);
    }
    renderServerTiming(await timingEntry(url));
    setStatus(response.ok ? "ok" : "error", `${response.status} ${response.statusText}`.trim());
}
function reset(sent) {
    setStatus("loading", "Loading…");
    byTestId("correlation-sent").textContent = sent;
    byTestId("correlation-received").textContent = "–";
    for (const id of ["problem", "page", "server-timing"])
        byTestId(id).hidden = true;
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
    const degraded = new Map(page.meta.degraded.map((entry) => [entry.source, entry]));
    if (page.product) {
        byTestId("product-name").textContent = page.product.name;
        byTestId("product-description").textContent = page.product.description;
        byTestId("product-price").textContent = priceOf(page.product);
    }
    for (const name of OPTIONAL_SECTIONS)
        renderSectionState(name, page[name], degraded.get(name));
    if (page.reviews)
        renderReviews(page.reviews);
    if (page.inventory)
        renderInventory(page.inventory);
    byTestId("page").hidden = false;
}
/** The BFF's priceFormatted (the caller's locale, with its currency); the raw minor units only if it has none. */
function priceOf(product) {
    if (product.priceFormatted)
        return product.priceFormatted;
    const currency = product.currency ?? "";
    return `${(product.price / 100).toFixed(2)} ${currency}`.trim();
}
function renderSectionState(name, value, degradation) {
    const section = byTestId(name);
    const note = byTestId(`${name}-note`);
    if (value === null) {
        section.dataset.state = "unavailable";
        note.textContent = `unavailable (${degradation ? degradation.reason : "no reason given"})`;
        byTestId(name === "reviews" ? "review-list" : "inventory-stock").replaceChildren();
    }
    else if (degradation && degradation.reason === "stale") {
        section.dataset.state = "stale";
        note.textContent = `stale, ${degradation.ageSeconds ?? "?"} s old`;
    }
    else {
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
    if (items.length === 0)
        items.push(Object.assign(document.createElement("li"), { textContent: "No reviews yet." }));
    byTestId("review-list").replaceChildren(...items);
}
function renderInventory(inventory) {
    byTestId("inventory-stock").textContent = inventory.stock > 0 ? `${inventory.stock} in stock` : "Out of stock";
}
function renderProblem(status, problem) {
    // problem+json from the BFF; anything else (an API Gateway {"message": ...}) still shows what it says.
    byTestId("problem-title").textContent = problem.title ?? problem.message ?? "Error";
    byTestId("problem-detail").textContent = problem.detail ?? "";
    byTestId("problem-status").textContent = status ? String(status) : "none (no response)";
    byTestId("problem").hidden = false;
}
// The browser records the resource entry once the body is read, which may land just after fetch() settles.
async function timingEntry(url) {
    for (let attempt = 0; attempt < 20; attempt += 1) {
        const entries = performance.getEntriesByName(url, "resource");
        const last = entries[entries.length - 1];
        if (last)
            return last;
        await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return null;
}
/**
 * What the browser's figure and the BFF's total say together. The BFF's `total` is its own time inside the function;
 * the browser's duration adds the network, API Gateway and, on a cold start, the function's start. A copy from the
 * browser's HTTP cache (transferSize 0) repeats the Server-Timing of the render it stored: its total is not this
 * load's, and the browser's figure is only the cache read.
 */
export function browserDurationText(entry, bffTotalMs) {
    if (entry === null)
        return "";
    const browserMs = Math.round(entry.duration);
    if (entry.transferSize === 0 && entry.decodedBodySize > 0) {
        return `(from the browser's cache in ${browserMs} ms: the timings below are those of the stored answer's render)`;
    }
    if (bffTotalMs === undefined)
        return `(the browser saw ${browserMs} ms)`;
    const bffMs = Math.round(bffTotalMs);
    if (browserMs < bffMs) {
        return `(the browser saw ${browserMs} ms, less than the BFF's ${bffMs} ms: a copy its cache revalidated, whose timings are from an earlier render)`;
    }
    return `(the browser saw ${browserMs} ms: ${bffMs} ms in the BFF, ${browserMs - bffMs} ms network, gateway and function start)`;
}
function renderServerTiming(entry) {
    const metrics = entry?.serverTiming ?? [];
    const longest = Math.max(1, ...metrics.map((metric) => metric.duration));
    const rows = metrics.map((metric) => {
        const row = document.createElement("tr");
        row.dataset.testid = "timing-row";
        row.dataset.name = metric.name;
        for (const text of [metric.name, metric.duration.toFixed(1), metric.description]) {
            row.append(Object.assign(document.createElement("td"), { textContent: text }));
        }
        const bar = document.createElement("span");
        bar.className = "bar";
        bar.style.width = `${(100 * metric.duration) / longest}%`;
        const cell = Object.assign(document.createElement("td"), { className: "bar-cell" });
        cell.append(bar);
        row.append(cell);
        return row;
    });
    byTestId("timing-rows").replaceChildren(...rows);
    const total = metrics.find((metric) => metric.name === TOTAL_METRIC)?.duration;
    byTestId("browser-duration").textContent = browserDurationText(entry, total);
    const note = byTestId("server-timing-note");
    note.hidden = rows.length > 0;
    note.textContent = "Not readable from this page: the response carries no Timing-Allow-Origin for this origin.";
    byTestId("server-timing").hidden = false;
}
function start() {
    const input = byTestId("product-id");
    input.value = new URLSearchParams(location.search).get("id") ?? input.value;
    byTestId("api-url").textContent = API;
    byTestId("lookup").addEventListener("submit", (event) => {
        event.preventDefault();
        const id = input.value.trim();
        history.replaceState(null, "", `?id=${encodeURIComponent(id)}`);
        void load(id);
    });
    void load(input.value.trim());
}
start();
