// The staff console: plain JavaScript, no build step, talks only to Central's /api/v1 with X-STAFF-KEY.
"use strict";

const TEXT = {
  ko: {
    staff: "직원", queue: "검토 대기", products: "상품·사진", signout: "로그아웃", signin: "로그인",
    staffKey: "직원 키", reviewer: "이름", store: "매장 번호", signinButton: "로그인",
    openReviews: "검토 대기 트레이", queueEmpty: "대기 중인 트레이가 없습니다.", back: "← 목록",
    manualMode: "AI가 응답하지 않았습니다: 사진을 보고 상품을 직접 추가하세요.", addProduct: "상품 추가 (검색)",
    total: "합계", resolve: "확정", background: "빈 트레이 배경 촬영", counter: "계산대", capture: "촬영",
    addPhoto: "사진 추가", delete: "삭제", wrongKey: "직원 키가 올바르지 않습니다.",
    resolved: "확정되었습니다. 결제할 수 있습니다.", nothing: "상품을 하나 이상 추가하세요.",
    unknownItem: "알 수 없는 상품", pick: "상품을 선택하세요", updated: "갱신", review: "검토",
    reason_REVIEW: "AI 확신 낮음", reason_UNKNOWN: "모르는 상품", reason_AI_UNAVAILABLE: "AI 응답 없음",
    noFrames: "보관된 사진이 없습니다.", photosUnavailable: "사진 목록을 불러올 수 없습니다.",
    saved: "저장되었습니다.", failed: "실패했습니다", frame: "사진",
    bills: "계산서", billsTitle: "계산서", all: "전체", refresh: "새로고침", billsEmpty: "계산서가 없습니다.",
    status_FAILED: "결제 실패", status_PENDING: "결제 대기", status_PAID: "결제 완료", status_VOIDED: "취소됨",
    retry: "재결제", void: "취소", voidReason: "취소 사유", voidConfirm: "계산서 취소", cancel: "닫기",
    voided: "계산서를 취소했습니다.", retryAtCounter: "재결제는 계산대에서 합니다: 직원 키로는 결제할 수 없습니다.",
    history_VOID: "취소", history_RETRY: "재결제", reasonNeeded: "취소 사유를 입력하세요.", photoCount: "사진",
  },
  en: {
    staff: "Staff", queue: "Reviews", products: "Products & photos", signout: "Sign out", signin: "Sign in",
    staffKey: "Staff key", reviewer: "Your name", store: "Store number", signinButton: "Sign in",
    openReviews: "Trays waiting for review", queueEmpty: "No tray is waiting.", back: "← Queue",
    manualMode: "The AI did not answer: add the products you see in the photo.", addProduct: "Add a product (search)",
    total: "Total", resolve: "Resolve", background: "Capture the empty tray background", counter: "Counter",
    capture: "Capture", addPhoto: "Add photo", delete: "Delete", wrongKey: "That staff key is not valid.",
    resolved: "Resolved. The tray can be paid.", nothing: "Add at least one product.",
    unknownItem: "Unknown item", pick: "Pick the product", updated: "updated", review: "Review",
    reason_REVIEW: "AI unsure", reason_UNKNOWN: "Unknown product", reason_AI_UNAVAILABLE: "AI did not answer",
    noFrames: "No archived photo.", photosUnavailable: "Photos could not be listed.",
    saved: "Saved.", failed: "Failed", frame: "Photo",
    bills: "Bills", billsTitle: "Bills", all: "All", refresh: "Refresh", billsEmpty: "No bill yet.",
    status_FAILED: "Payment failed", status_PENDING: "Payment pending", status_PAID: "Paid", status_VOIDED: "Voided",
    retry: "Retry payment", void: "Void", voidReason: "Reason for voiding", voidConfirm: "Void the bill", cancel: "Close",
    voided: "The bill was voided.", retryAtCounter: "Payments are retried at the counter: the staff key cannot take a payment.",
    history_VOID: "Voided", history_RETRY: "Retried", reasonNeeded: "Say why the bill is voided.",
    photoCount: "photos",
  },
};
const SURE = 0.9; // as Central's annotation: below this, in a run sent to review, an item is unsure
const REFRESH_MS = 5000;

const state = {
  lang: localStorage.getItem("bakesight.lang") || "ko",
  key: sessionStorage.getItem("bakesight.key") || "",
  reviewer: sessionStorage.getItem("bakesight.reviewer") || "",
  store: Number(sessionStorage.getItem("bakesight.store") || 0),
  products: [],
  lines: [],
  review: null,
  timer: null,
  blobs: [],
  billStatus: "",
};
const $ = (sel) => document.querySelector(sel);
const t = (key) => TEXT[state.lang][key] || TEXT.en[key] || key;
const won = (n) => `₩${Number(n).toLocaleString("ko-KR")}`;

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

async function api(path, options = {}) {
  const headers = { "X-STAFF-KEY": state.key, ...(options.headers || {}) };
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(options.json);
  }
  const response = await fetch(path, { ...options, headers });
  if (options.raw && response.ok) return response;
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

function say(text, ok = false) {
  const box = $("#message");
  box.textContent = text;
  box.className = ok ? "ok" : "";
  box.hidden = !text;
}

function translate() {
  document.documentElement.lang = state.lang;
  document.querySelectorAll("[data-t]").forEach((el) => { el.textContent = t(el.dataset.t); });
  $("#lang").textContent = state.lang === "ko" ? "EN" : "한국어";
}

function show(id) {
  for (const section of document.querySelectorAll("main > section")) section.hidden = section.id !== id;
  $("#nav").hidden = id === "signin";
  $("#who").textContent = state.reviewer ? `${state.reviewer} · #${state.store}` : "";
}

// ---- sign-in -------------------------------------------------------------------------------

async function signIn(event) {
  event.preventDefault();
  const form = event.target;
  state.key = form.key.value.trim();
  state.reviewer = form.reviewer.value.trim();
  state.store = Number(form.store.value);
  try {
    await api(`/api/v1/reviews?store_id=${state.store}&status=OPEN&limit=1`);
  } catch (error) {
    say(error.status === 401 ? t("wrongKey") : error.message);
    state.key = "";
    return;
  }
  sessionStorage.setItem("bakesight.key", state.key);
  sessionStorage.setItem("bakesight.reviewer", state.reviewer);
  sessionStorage.setItem("bakesight.store", String(state.store));
  say("");
  location.hash = "#queue";
  route();
}

function signOut() {
  sessionStorage.clear();
  state.key = "";
  location.hash = "";
  route();
}

// ---- queue ---------------------------------------------------------------------------------

async function loadQueue() {
  const body = await api(`/api/v1/reviews?store_id=${state.store}&status=OPEN&limit=200`);
  const list = $("#queue-list");
  list.replaceChildren(...body.items.map((review) => {
    const li = document.createElement("li");
    const a = document.createElement("a");
    a.href = `#review/${review.id}`;
    a.dataset.review = review.id;
    const when = new Date(review.created_at).toLocaleTimeString(state.lang === "ko" ? "ko-KR" : "en-GB");
    a.innerHTML = `<div class="reason"></div><div>${t("review")} #${review.id} · ${when}</div>`;
    a.querySelector(".reason").textContent = t(`reason_${review.reason}`);
    li.append(a);
    return li;
  }));
  $("#queue-empty").hidden = body.items.length > 0;
  $("#queue-updated").textContent = `${t("updated")} ${new Date().toLocaleTimeString()}`;
}

// ---- review --------------------------------------------------------------------------------

async function loadProducts() {
  const body = await api(`/api/v1/stores/${state.store}/products?active=true`);
  state.products = body.items;
}

const productBySku = (sku) => state.products.find((p) => p.sku === sku);

async function openReview(id) {
  state.blobs.forEach(URL.revokeObjectURL);
  state.blobs = [];
  const review = await api(`/api/v1/reviews/${id}`);
  const [session] = await Promise.all([api(`/api/v1/tray-sessions/${review.session}`), loadProducts()]);
  const run = session.runs.find((r) => r.id === review.run_id);
  state.review = review;
  $("#review-title").textContent = `${t("review")} #${review.id} · ${session.counter_id} · ${t(`reason_${review.reason}`)}`;
  $("#manual").hidden = run.ai_status === "OK";
  state.lines = run.items.map((item) => ({
    sku: item.sku,
    count: item.count,
    confidence: item.confidence,
    candidates: item.candidates.map((c) => c.sku),
    unsure: item.sku === null || (run.decision !== "AUTO" && item.confidence < SURE),
  }));
  renderLines();
  const frames = $("#frames");
  frames.replaceChildren();
  if (!run.frames.length) frames.textContent = t("noFrames");
  for (const [index, frame] of run.frames.entries()) {
    const img = document.createElement("img");
    img.alt = `${t("frame")} ${index + 1}`;
    img.className = "annotated";
    frames.append(img);
    api(frame.annotated, { raw: true })
      .then((r) => r.blob())
      .then((blob) => { const url = URL.createObjectURL(blob); state.blobs.push(url); img.src = url; })
      .catch((error) => { img.alt = `${t("failed")}: ${error.message}`; });
  }
  $("#resolve").disabled = review.status !== "OPEN";
}

function renderLines() {
  const list = $("#lines");
  list.replaceChildren(...state.lines.map((line, index) => {
    const li = document.createElement("li");
    li.className = `line${line.unsure ? " unsure" : ""}`;
    li.dataset.sku = line.sku || "";
    const product = line.sku && productBySku(line.sku);
    const row = document.createElement("div");
    row.className = "row";
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = product ? product.name : line.sku ? line.sku : t("pick");
    const minus = button("−", () => { line.count -= 1; if (line.count < 1) state.lines.splice(index, 1); renderLines(); });
    minus.setAttribute("aria-label", "minus");
    const count = document.createElement("span");
    count.className = "count";
    count.textContent = String(line.count);
    const plus = button("+", () => { line.count = Math.min(100, line.count + 1); renderLines(); });
    plus.setAttribute("aria-label", "plus");
    row.append(name, minus, count, plus);
    li.append(row);
    const options = [...new Set([line.sku, ...line.candidates].filter(Boolean))];
    if (options.length > 1 || line.unsure) {
      const chips = document.createElement("div");
      chips.className = "chips";
      for (const sku of options) {
        const chip = button(productBySku(sku)?.name || sku, () => { line.sku = sku; line.unsure = false; renderLines(); });
        chip.dataset.candidate = sku;
        chip.setAttribute("aria-pressed", String(sku === line.sku && !line.unsure));
        chips.append(chip);
      }
      li.append(chips);
    }
    return li;
  }));
  const total = state.lines.reduce((sum, l) => sum + (productBySku(l.sku)?.unit_price_krw || 0) * l.count, 0);
  $("#total").textContent = won(total);
}

function button(label, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.addEventListener("click", onClick);
  return b;
}

function search() {
  const q = $("#product-search").value.trim().toLowerCase();
  const results = $("#search-results");
  const hits = q ? state.products.filter((p) => p.sku.toLowerCase().includes(q) || p.name.toLowerCase().includes(q)) : [];
  results.replaceChildren(...hits.slice(0, 8).map((p) => {
    const li = document.createElement("li");
    const b = button(`${p.name} (${p.sku})`, () => {
      const existing = state.lines.find((l) => l.sku === p.sku);
      if (existing) existing.count += 1;
      else state.lines.push({ sku: p.sku, count: 1, confidence: 1, candidates: [], unsure: false });
      $("#product-search").value = "";
      search();
      renderLines();
    });
    b.dataset.add = p.sku;
    li.append(b);
    return li;
  }));
}

async function resolve() {
  const counts = new Map();
  for (const line of state.lines) {
    if (!line.sku) { say(t("pick")); return; }
    counts.set(line.sku, (counts.get(line.sku) || 0) + line.count);
  }
  if (!counts.size) { say(t("nothing")); return; }
  const items = [...counts].map(([sku, count]) => ({ sku, count }));
  $("#resolve").disabled = true;
  try {
    await api(`/api/v1/reviews/${state.review.id}/resolve`, {
      method: "POST",
      json: { reviewer: state.reviewer, items },
      headers: { "Idempotency-Key": `console-${state.review.id}-${crypto.randomUUID()}` },
    });
    say(t("resolved"), true);
    location.hash = "#queue";
  } catch (error) {
    say(`${t("failed")}: ${error.message}`);
    $("#resolve").disabled = false;
  }
}

// ---- products and photos -------------------------------------------------------------------

function readAsBase64(file) {
  return new Promise((ok, fail) => {
    const reader = new FileReader();
    reader.onload = () => ok(String(reader.result).split(",", 2)[1]);
    reader.onerror = () => fail(reader.error);
    reader.readAsDataURL(file);
  });
}

async function loadProductsPage() {
  await loadProducts();
  const list = $("#product-list");
  const template = $("#product-template");
  list.replaceChildren(...state.products.map((product) => {
    const li = template.content.firstElementChild.cloneNode(true);
    li.dataset.sku = product.sku;
    li.querySelector(".name").textContent = product.name;
    li.querySelector(".sku").textContent = product.sku;
    li.querySelector(".price").textContent = won(product.unit_price_krw);
    li.querySelectorAll("[data-t]").forEach((el) => { el.textContent = t(el.dataset.t); });
    const input = li.querySelector("input[type=file]");
    input.addEventListener("change", async () => {
      try {
        const photos = await Promise.all([...input.files].map(readAsBase64));
        await api(photoPath(product.sku), { method: "POST", json: { photos_b64: photos } });
        say(t("saved"), true);
        loadPhotos(li, product.sku);
      } catch (error) {
        say(`${t("failed")}: ${error.message}`);
      }
      input.value = "";
    });
    loadPhotos(li, product.sku);
    return li;
  }));
}

const photoPath = (sku) => `/api/v1/stores/${state.store}/products/${encodeURIComponent(sku)}/photos`;

async function loadPhotos(li, sku) {
  const box = li.querySelector(".photos");
  let body;
  try {
    body = await api(photoPath(sku));
  } catch (error) {
    box.textContent = t("photosUnavailable");
    return;
  }
  const photos = body.items || body.photos || [];
  const count = li.querySelector(".photo-count");
  const showCount = (n) => { count.textContent = `${t("photoCount")} ${n}/${body.max ?? 5}`; };
  showCount(photos.length);
  box.replaceChildren(...photos.map((photo) => {
    const id = photo.photo_id ?? photo.id;
    const div = document.createElement("div");
    div.className = "photo";
    div.dataset.photo = id;
    // The AI keeps its references, not the pictures: a tile says when each was added.
    let img = document.createElement("span");
    img.className = "tile";
    img.textContent = photo.added_at ? new Date(photo.added_at).toLocaleString(state.lang === "ko" ? "ko-KR" : "en-GB") : String(id);
    if (photo.image_b64 || photo.url) {
      img = document.createElement("img");
      img.alt = `${sku} ${id}`;
      if (photo.image_b64) img.src = `data:image/jpeg;base64,${photo.image_b64}`;
      else api(photo.url, { raw: true }).then((r) => r.blob()).then((b) => { img.src = URL.createObjectURL(b); });
    }
    const remove = button("✕", async () => {
      try {
        const left = await api(`${photoPath(sku)}/${encodeURIComponent(id)}`, { method: "DELETE" });
        div.remove();
        showCount((left.photos || []).length);
      } catch (error) {
        say(`${t("failed")}: ${error.message}`);
      }
    });
    remove.setAttribute("aria-label", t("delete"));
    div.append(img, remove);
    return div;
  }));
}

async function captureBackground() {
  const input = $("#background-input");
  const counter = $("#counter").value.trim();
  try {
    const frames = await Promise.all([...input.files].map(readAsBase64));
    await api(`/api/v1/stores/${state.store}/counters/${encodeURIComponent(counter)}/background`, {
      method: "POST",
      json: { frames_b64: frames },
    });
    say(t("saved"), true);
  } catch (error) {
    say(`${t("failed")}: ${error.message}`);
  }
  input.value = "";
}

// ---- bills ---------------------------------------------------------------------------------

const RETRYABLE = ["FAILED", "PENDING"];
const locale = () => (state.lang === "ko" ? "ko-KR" : "en-GB");

async function loadBills() {
  const query = new URLSearchParams({ limit: "100" });
  if (state.billStatus) query.set("status", state.billStatus);
  const body = await api(`/api/v1/stores/${state.store}/bills?${query}`);
  for (const b of document.querySelectorAll("#bill-filters button")) {
    b.setAttribute("aria-pressed", String(b.dataset.status === state.billStatus));
  }
  const template = $("#bill-template");
  $("#bill-list").replaceChildren(...body.bills.map((bill) => {
    const li = template.content.firstElementChild.cloneNode(true);
    li.dataset.bill = bill.id;
    li.dataset.session = bill.session;
    li.dataset.status = bill.payment_status;
    li.querySelectorAll("[data-t]").forEach((el) => { el.textContent = t(el.dataset.t); });
    li.querySelector(".time").textContent = new Date(bill.created_at).toLocaleString(locale(), {
      month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
    });
    li.querySelector(".where").textContent = `${bill.counter_id} · #${bill.id} · ${bill.session.slice(0, 8)}`;
    li.querySelector(".bill-lines").replaceChildren(...bill.lines.map((line) => {
      const item = document.createElement("li");
      item.textContent = `${line.name} ×${line.count} · ${won(line.line_total_krw)}`;
      return item;
    }));
    li.querySelector(".amount").textContent = won(bill.total_krw);
    const status = li.querySelector(".status");
    status.textContent = t(`status_${bill.payment_status}`);
    status.className = `status badge ${bill.payment_status.toLowerCase()}`;
    li.querySelector(".history").replaceChildren(...bill.history.map((h) => {
      const item = document.createElement("li");
      const when = new Date(h.at).toLocaleTimeString(locale(), { hour: "2-digit", minute: "2-digit" });
      const what = `${t(`history_${h.kind}`)}: ${t(`status_${h.from_status}`)} → ${t(`status_${h.payment_status}`)}`;
      item.textContent = [when, what, h.actor, h.reason].filter(Boolean).join(" · ");
      return item;
    }));
    // Paying again is the counter's (admin) task: the staff key may void a bill, never take a payment.
    const retry = li.querySelector(".retry");
    retry.hidden = !RETRYABLE.includes(bill.payment_status);
    retry.disabled = true;
    retry.title = t("retryAtCounter");
    const voidButton = li.querySelector(".void");
    const form = li.querySelector(".void-form");
    voidButton.hidden = bill.payment_status === "VOIDED";
    voidButton.addEventListener("click", () => { form.hidden = false; form.reason.focus(); });
    li.querySelector(".cancel").addEventListener("click", () => { form.hidden = true; });
    form.addEventListener("submit", (event) => { event.preventDefault(); voidBill(bill, form); });
    return li;
  }));
  $("#bills-empty").hidden = body.bills.length > 0;
}

async function voidBill(bill, form) {
  const reason = form.reason.value.trim();
  if (!reason) { say(t("reasonNeeded")); return; }
  const submit = form.querySelector("button[type=submit]");
  submit.disabled = true;
  try {
    await api(`/api/v1/tray-sessions/${bill.session}/void`, {
      method: "POST",
      json: { reason, voided_by: state.reviewer },
      headers: { "Idempotency-Key": `console-void-${bill.id}-${crypto.randomUUID()}` },
    });
    say(t("voided"), true);
    await loadBills();
  } catch (error) {
    say(`${t("failed")}: ${error.message}`);
    submit.disabled = false;
  }
}

// ---- routing -------------------------------------------------------------------------------

async function route() {
  clearInterval(state.timer);
  if (!state.key) { show("signin"); return; }
  const [page, id] = location.hash.slice(1).split("/");
  try {
    if (page === "review" && id) {
      show("review");
      await openReview(Number(id));
    } else if (page === "products") {
      show("products");
      await loadProductsPage();
    } else if (page === "bills") {
      show("bills");
      await loadBills();
    } else {
      show("queue");
      await loadQueue();
      state.timer = setInterval(() => loadQueue().catch((e) => say(e.message)), REFRESH_MS);
    }
  } catch (error) {
    if (error.status === 401) { signOut(); say(t("wrongKey")); return; }
    say(`${t("failed")}: ${error.message}`);
  }
}

$("#signin-form").addEventListener("submit", signIn);
$("#signout").addEventListener("click", signOut);
$("#resolve").addEventListener("click", resolve);
$("#product-search").addEventListener("input", search);
$("#background-input").addEventListener("change", captureBackground);
$("#bills-refresh").addEventListener("click", () => loadBills().catch((e) => say(e.message)));
for (const b of document.querySelectorAll("#bill-filters button")) {
  b.addEventListener("click", () => {
    state.billStatus = b.dataset.status;
    loadBills().catch((e) => say(e.message));
  });
}
$("#lang").addEventListener("click", () => {
  state.lang = state.lang === "ko" ? "en" : "ko";
  localStorage.setItem("bakesight.lang", state.lang);
  translate();
  route();
});
window.addEventListener("hashchange", route);
translate();
route();
