// RYLA Studio live updates. Cards follow the tab's event stream: htmx's SSE extension
// keeps the connection, each `card` event carries one re-rendered card, and it replaces
// the card with the same id if this page shows it (one stable listener: a card swapped
// in between two events cannot miss the second). While the stream is down, each pack
// that still has images in flight is read from the database once every two seconds
// instead: one request per pack, not one per card. <html data-live> says which is used.
const POLL_MS = 2000;
let timer = null;

function packsInFlight() {
  const urls = new Set();
  const selector =
    'article.image-card[data-status="pending"], article.image-card[data-status="generating"]';
  for (const card of document.querySelectorAll(selector)) urls.add(card.dataset.packUrl);
  return [...urls];
}

function poll() {
  const urls = packsInFlight();
  if (!urls.length) return;
  for (const url of urls) window.htmx.ajax("GET", url, { swap: "none", source: document.body });
}

function pollStart() {
  document.documentElement.dataset.live = "polling";
  if (timer === null) timer = window.setInterval(poll, POLL_MS);
}

function pollStop() {
  document.documentElement.dataset.live = "stream";
  if (timer !== null) window.clearInterval(timer);
  timer = null;
}

function cardReplace(event) {
  if (event.target.id !== "live-cards") return;
  event.preventDefault();
  const template = document.createElement("template");
  template.innerHTML = event.detail.data.trim();
  const fresh = template.content.firstElementChild;
  const card = fresh && document.getElementById(fresh.id);
  if (card) window.htmx.swap(card, event.detail.data, { swapStyle: "outerHTML" });
  if (fresh?.dataset.sourceId) editsRefresh(fresh.dataset.sourceId);
}

function editsRefresh(sourceId) {
  // The open image lists its edits: one of them changed, so read the list again.
  const list = document.getElementById(`edits-${sourceId}`);
  if (!list) return;
  window.htmx.ajax("GET", list.dataset.editsUrl, { target: list, swap: "outerHTML" });
}

if (document.querySelector("[data-live-root]")) {
  document.body.addEventListener("htmx:sseBeforeMessage", cardReplace);
  document.body.addEventListener("htmx:sseError", pollStart);
  document.body.addEventListener("htmx:sseOpen", pollStop);
}

// --- results where the eye is ---

let toastTimer = null;

function toast(message) {
  const box = document.getElementById("toast");
  if (!box) return;
  box.textContent = message;
  box.hidden = false;
  window.clearTimeout(toastTimer);
  toastTimer = window.setTimeout(() => (box.hidden = true), 5000);
}

function showCard(card) {
  if (!card) return;
  card.classList.add("is-new");
  card.scrollIntoView({ block: "center", behavior: "instant" });
  window.setTimeout(() => card.classList.remove("is-new"), 4000);
}

function closeSheet() {
  // On a phone the open image covers the gallery: the new card is what to look at now
  // (so the focus does not go back to the card the sheet was opened from).
  const detail = document.getElementById("detail");
  if (!detail || !window.matchMedia("(max-width: 900px)").matches) return;
  opener = null;
  detail.replaceChildren();
}

let awaitedEdit = null;

if (document.querySelector("[data-live-root]")) {
  document.body.addEventListener("ryla:pack-started", (event) => {
    const count = event.detail?.count || 1;
    toast(count === 1 ? "Image started." : `Pack of ${count} started.`);
    showCard(document.querySelector("#gallery article.image-card"));
  });
  document.body.addEventListener("ryla:image-queued", (event) => {
    awaitedEdit = event.detail?.imageId || null;
    const open = document.querySelector("#detail [data-edits-url]");
    if (open) editsRefresh(open.id.replace("edits-", ""));
    closeSheet();
    toast("Edit started. It is at the top of your gallery.");
  });
  document.body.addEventListener("ryla:form-filled", (event) => {
    closeSheet();
    // The filled form's Generate button, in view and focused: Enter starts it.
    const submit = document.querySelector("#generate-form button[type=submit]");
    submit?.scrollIntoView({ block: "center", behavior: "instant" });
    submit?.focus({ preventScroll: true });
    toast(event.detail?.seed ? "Settings and seed copied: press Generate." : "Settings copied: press Generate.");
  });
  document.body.addEventListener("htmx:afterSwap", (event) => {
    if (!awaitedEdit || event.detail.target?.id !== "gallery") return;
    showCard(document.getElementById(`card-${awaitedEdit}`));
    awaitedEdit = null;
  });
}

// --- keyboard: an opened image takes the focus, a closed one gives it back ---
// Watched in the DOM, not through htmx events: closing replaces the element that asked.

let opener = null;
let shownTitle = document.getElementById("detail-title");

if (document.querySelector("[data-live-root]")) {
  document.body.addEventListener("htmx:beforeRequest", (event) => {
    if (event.detail.target?.id === "detail" && event.detail.elt.matches("a.open")) {
      opener = event.detail.elt.closest("article")?.id || null; // the card may be re-rendered
    }
  });
  new MutationObserver(() => {
    const title = document.getElementById("detail-title");
    if (title === shownTitle) return;
    shownTitle = title;
    if (title) {
      title.focus(); // Tab goes on to Close, Download, the star, Edit
    } else if (opener) {
      document.querySelector(`#${opener} a.open`)?.focus();
      opener = null;
    }
  }).observe(document.querySelector(".studio-main") || document.body, {
    childList: true,
    subtree: true,
  });
}
