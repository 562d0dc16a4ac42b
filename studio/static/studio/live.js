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
}

if (document.querySelector("[data-live-root]")) {
  document.body.addEventListener("htmx:sseBeforeMessage", cardReplace);
  document.body.addEventListener("htmx:sseError", pollStart);
  document.body.addEventListener("htmx:sseOpen", pollStop);
}
