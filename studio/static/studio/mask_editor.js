// RYLA Studio mask editor: paint the area of an image to repaint, then ask for an inpaint.
//
// Wires up every [data-mask-editor] element (studio/_edit_modal.html), whether present at
// load or swapped in later by htmx. The exported PNG follows ComfyUI's LoadImage convention
// (DESIGN.md): the source image at its natural size whose alpha is 0 where painted (repaint)
// and 255 elsewhere (keep).
//
// The mask canvas is painted with an OPAQUE colour and shown half-transparent through CSS
// opacity only, so its alpha is a clean coverage value; the export subtracts it from the
// source with 'destination-out'. Tests reach the editor through `root.maskEditor`.

const MAX_SIZE = 250;
const MASK_COLOUR = "rgb(255, 60, 120)";
const EMPTY_MASK = "Paint the area to change first.";
const FULL_MASK = "Leave part of the image unpainted: the painted area is what gets replaced.";
const FOCUSABLE =
  "button:not([disabled]), input:not([disabled]), textarea:not([disabled]), select:not([disabled]), a[href], [tabindex]:not([tabindex='-1'])";

const live = new Set();

function isTextField(el) {
  if (!el || !el.tagName) return false;
  if (el.isContentEditable || el.tagName === "TEXTAREA" || el.tagName === "SELECT") return true;
  return el.tagName === "INPUT" && !/^(range|radio|checkbox|button|submit|reset)$/.test(el.type);
}

function csrfToken() {
  const body = document.body;
  if (body.dataset.csrfToken) return body.dataset.csrfToken;
  try {
    return JSON.parse(body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
  } catch {
    return "";
  }
}

function setup(root) {
  if (root.maskEditor) return; // idempotent: an element is wired once
  const part = (name) => root.querySelector(`[data-part="${name}"]`);
  const stage = part("stage");
  const imageCanvas = part("image");
  const maskCanvas = part("mask");
  const cursor = part("cursor");
  const sizeInput = part("size");
  const sizeOut = part("size-out");
  const form = part("form");
  const status = part("status");
  const applyButton = part("apply");
  const button = (action) => root.querySelector(`[data-action="${action}"]`);

  const imageCtx = imageCanvas.getContext("2d");
  // The mask is read back on every export and emptiness check: keep it in CPU memory.
  let ctx = maskCanvas.getContext("2d", { willReadFrequently: true });
  const opener =
    document.activeElement && document.activeElement !== document.body ? document.activeElement : null;
  const listeners = new AbortController();
  const on = (target, type, fn) => target.addEventListener(type, fn, { signal: listeners.signal });

  let tool = "brush";
  let size = clampSize(Number(sizeInput.value) || 40);
  let ready = false;
  let sending = false;
  const ops = []; // strokes / clears / inverts since the editor opened; replayed on undo
  const undone = [];
  let stroke = null; // the stroke being drawn
  let last = null; // its last point: null between strokes so a new one never joins the old
  let pointerId = null;
  let pointer = null; // last client position, to resize the cursor in place

  function clampSize(value) {
    return Math.min(MAX_SIZE, Math.max(1, Math.round(value)));
  }

  function resetContext() {
    ctx = maskCanvas.getContext("2d", { willReadFrequently: true });
    ctx.strokeStyle = ctx.fillStyle = MASK_COLOUR;
    ctx.lineCap = ctx.lineJoin = "round";
  }

  // --- drawing: the same code paints live and replays history, so undo/redo is exact ---

  function draw(op, from, to) {
    ctx.globalCompositeOperation = op.tool === "eraser" ? "destination-out" : "source-over";
    ctx.lineWidth = op.size;
    ctx.beginPath();
    if (from) {
      ctx.moveTo(from[0], from[1]);
      ctx.lineTo(to[0], to[1]);
      ctx.stroke();
    } else {
      ctx.arc(to[0], to[1], op.size / 2, 0, 2 * Math.PI); // a tap leaves a round dab
      ctx.fill();
    }
  }

  function replay(op) {
    const { width, height } = maskCanvas;
    if (op.type === "clear") {
      ctx.clearRect(0, 0, width, height);
    } else if (op.type === "invert") {
      // XOR with an opaque rectangle: alpha becomes 1 - alpha, exactly.
      ctx.globalCompositeOperation = "xor";
      ctx.fillRect(0, 0, width, height);
    } else {
      op.points.forEach((point, i) => draw(op, op.points[i - 1], point));
    }
  }

  function redraw() {
    ctx.globalCompositeOperation = "source-over";
    ctx.clearRect(0, 0, maskCanvas.width, maskCanvas.height);
    ops.forEach(replay);
  }

  function commit(op) {
    ops.push(op);
    undone.length = 0;
    if (op.type !== "stroke") replay(op);
    refresh();
  }

  function undo() {
    if (stroke || !ops.length) return;
    undone.push(ops.pop());
    redraw();
    refresh();
  }

  function redo() {
    if (stroke || !undone.length) return;
    const op = undone.pop();
    ops.push(op);
    replay(op);
    refresh();
  }

  const clear = () => ops.length && commit({ type: "clear" });
  const invert = () => commit({ type: "invert" });

  /** Which kinds of pixel the mask holds: fully painted (exported alpha 0) and untouched (255). */
  function coverage() {
    const data = ctx.getImageData(0, 0, maskCanvas.width, maskCanvas.height).data;
    let painted = false;
    let untouched = false;
    for (let i = 3; i < data.length && !(painted && untouched); i += 4) {
      if (data[i] === 255) painted = true;
      else if (data[i] === 0) untouched = true;
    }
    return { painted, untouched };
  }

  // --- pointer input ---

  function toImage(event) {
    // Display size comes from CSS; the canvas holds natural pixels. Clamp so a stroke dragged
    // past the edge (pointer capture keeps it coming) paints along the edge.
    const box = maskCanvas.getBoundingClientRect();
    const x = ((event.clientX - box.left) * maskCanvas.width) / box.width;
    const y = ((event.clientY - box.top) * maskCanvas.height) / box.height;
    return [
      Math.min(maskCanvas.width, Math.max(0, x)),
      Math.min(maskCanvas.height, Math.max(0, y)),
    ];
  }

  function moveCursor(event) {
    if (event) pointer = [event.clientX, event.clientY];
    if (!pointer) return;
    const box = stage.getBoundingClientRect();
    const diameter = (size * maskCanvas.getBoundingClientRect().width) / maskCanvas.width;
    cursor.style.width = cursor.style.height = `${diameter}px`;
    cursor.style.transform = `translate(${pointer[0] - box.left - diameter / 2}px, ${
      pointer[1] - box.top - diameter / 2
    }px)`;
  }

  on(maskCanvas, "pointerdown", (event) => {
    if (!ready || sending || pointerId !== null) return;
    if (event.pointerType === "mouse" && event.button !== 0) return;
    event.preventDefault();
    pointerId = event.pointerId;
    if (status.classList.contains("is-error")) say(""); // painting answers "paint first"
    maskCanvas.setPointerCapture(pointerId);
    last = toImage(event);
    stroke = { type: "stroke", tool, size, points: [last] };
    draw(stroke, null, last);
    commit(stroke);
  });

  on(maskCanvas, "pointermove", (event) => {
    stage.dataset.cursor = "";
    moveCursor(event);
    if (event.pointerId !== pointerId || !last) return;
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
    for (const e of events.length ? events : [event]) {
      const point = toImage(e);
      if (point[0] === last[0] && point[1] === last[1]) continue;
      draw(stroke, last, point); // round-capped segment: fast moves leave no gaps
      stroke.points.push(point);
      last = point;
    }
  });

  const endStroke = (event) => {
    if (event.pointerId !== pointerId) return;
    pointerId = stroke = last = null;
    refresh();
  };
  on(maskCanvas, "pointerup", endStroke);
  on(maskCanvas, "pointercancel", endStroke);
  on(maskCanvas, "lostpointercapture", endStroke);
  on(maskCanvas, "pointerleave", () => {
    if (pointerId === null) delete stage.dataset.cursor;
  });

  // --- controls ---

  function setSize(value) {
    size = clampSize(value);
    sizeInput.value = size;
    sizeOut.textContent = `${size} px`;
    moveCursor();
  }

  function setTool(value) {
    tool = value === "eraser" ? "eraser" : "brush";
    root.dataset.tool = tool;
    root.querySelector(`input[name="tool"][value="${tool}"]`).checked = true;
  }

  function refresh() {
    const focused = document.activeElement;
    button("undo").disabled = !ops.length || !!stroke;
    button("redo").disabled = !undone.length || !!stroke;
    button("clear").disabled = !ops.length;
    applyButton.disabled = !ready || sending;
    root.dataset.strokes = ops.length;
    // A button disabled under the keyboard user's focus would drop focus to <body>.
    if (focused?.disabled && root.contains(focused)) root.focus();
  }

  function say(message, isError = false) {
    status.textContent = message;
    status.classList.toggle("is-error", isError);
  }

  function fieldError(name, message) {
    const field = form.elements[name];
    const slot = root.querySelector(`[data-error-for="${name}"]`);
    if (!field || !slot) return false;
    slot.textContent = message;
    field.setAttribute("aria-invalid", "true");
    return true;
  }

  function clearErrors() {
    say("");
    root.querySelectorAll("[data-error-for]").forEach((slot) => (slot.textContent = ""));
    root.querySelectorAll("[aria-invalid]").forEach((field) => field.removeAttribute("aria-invalid"));
  }

  on(sizeInput, "input", () => setSize(Number(sizeInput.value)));
  root.querySelectorAll('input[name="tool"]').forEach((radio) =>
    on(radio, "change", () => setTool(radio.value)),
  );
  on(root, "click", (event) => {
    const action = event.target.closest("[data-action]")?.dataset.action;
    const actions = { undo, redo, clear, invert, close };
    if (actions[action]) actions[action]();
  });

  // --- keyboard: shortcuts, Escape, focus trap ---

  on(document, "keydown", (event) => {
    if (!root.isConnected) return destroy();
    if (event.key === "Escape") {
      event.preventDefault();
      return close();
    }
    if (event.key === "Tab") return trapTab(event);
    if (isTextField(event.target) || event.altKey) return;
    const key = event.key.toLowerCase();
    const step = Math.max(1, Math.round(size / 10));
    if ((event.ctrlKey || event.metaKey) && key === "z") event.shiftKey ? redo() : undo();
    else if ((event.ctrlKey || event.metaKey) && key === "y") redo();
    else if (event.ctrlKey || event.metaKey) return;
    else if (key === "[") setSize(size - step);
    else if (key === "]") setSize(size + step);
    else if (key === "x") setTool(tool === "brush" ? "eraser" : "brush");
    else return;
    event.preventDefault();
  });

  const focusables = () =>
    [...root.querySelectorAll(FOCUSABLE)].filter(
      (el) => el.getClientRects().length && !(el.type === "radio" && !el.checked),
    );

  function trapTab(event) {
    const items = focusables();
    const first = items[0];
    const lastItem = items[items.length - 1];
    const active = document.activeElement;
    if (event.shiftKey && (active === first || active === root || !root.contains(active))) {
      event.preventDefault();
      lastItem.focus();
    } else if (!event.shiftKey && (active === lastItem || !root.contains(active))) {
      event.preventDefault();
      first.focus();
    }
  }

  on(document, "focusin", (event) => {
    if (root.isConnected && !root.contains(event.target)) root.focus();
  });

  // --- export and apply ---

  async function exportPng() {
    const out = document.createElement("canvas");
    out.width = maskCanvas.width;
    out.height = maskCanvas.height;
    const c = out.getContext("2d");
    c.drawImage(imageCanvas, 0, 0);
    c.globalCompositeOperation = "destination-out"; // alpha = 255 - mask coverage
    c.drawImage(maskCanvas, 0, 0);
    // toDataURL, not toBlob: Chromium encodes toBlob in idle periods, which a busy or
    // headless page may not get for a second; the synchronous encode of 1024² takes ~40 ms.
    return out.toDataURL("image/png");
  }

  function showServerErrors(response, body) {
    const messages = [];
    for (const [key, value] of Object.entries(body || {})) {
      const text = [].concat(value).join(" ");
      if (!fieldError(key, text)) messages.push(text);
    }
    const fallback = {
      429: "Too many requests: wait a moment and try again.",
      503: "The image service is unavailable right now. Try again shortly.",
    };
    if (!messages.length && !root.querySelector("[aria-invalid]")) {
      messages.push(fallback[response.status] || `The edit could not be started (HTTP ${response.status}).`);
    }
    say(messages.join(" "), true);
    root.querySelector("[aria-invalid]")?.focus();
  }

  on(form, "submit", async (event) => {
    event.preventDefault();
    if (!ready || sending) return;
    clearErrors();
    const prompt = form.elements.prompt.value.trim();
    const seed = form.elements.seed;
    const { painted, untouched } = coverage();
    // Refuse locally what the server would refuse: nothing is sent until all of it is fixed.
    const maskProblem = !painted ? EMPTY_MASK : !untouched ? FULL_MASK : "";
    if (maskProblem) say(maskProblem, true);
    if (!prompt) fieldError("prompt", "Describe the change you want.");
    // badInput: the browser holds text it could not parse as a number, and reports "".
    if (seed.validity.badInput || (seed.value !== "" && !/^\d+$/.test(seed.value))) {
      fieldError("seed", "Enter a whole number of 0 or more, or leave it empty.");
    }
    const invalid = root.querySelector("[aria-invalid]");
    if (maskProblem || invalid) return invalid?.focus();

    sending = true;
    refresh();
    say("Sending the edit…");
    try {
      const payload = {
        characterId: root.dataset.characterId,
        sourceImageId: root.dataset.sourceImageId,
        prompt,
        maskedImageBase64Png: await exportPng(),
      };
      const negative = form.elements.negativePrompt.value.trim();
      if (negative) payload.negativePrompt = negative;
      if (seed.value !== "") payload.seed = Number(seed.value);
      const response = await fetch(root.dataset.inpaintUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "Content-Type": "application/json",
          Accept: "application/json",
          "X-CSRFToken": csrfToken(),
        },
        body: JSON.stringify(payload),
      });
      const body = await response.json().catch(() => null);
      if (response.ok && body?.imageId) {
        close({ applied: true });
        document.body.dispatchEvent(
          new CustomEvent("ryla:image-queued", {
            bubbles: true,
            detail: { imageId: body.imageId, promptId: body.promptId },
          }),
        );
        return;
      }
      showServerErrors(response, body);
    } catch (error) {
      say(
        error?.name === "SecurityError"
          ? "This image cannot be exported by the browser (cross-origin)."
          : "Could not reach the server. Check your connection and try again.",
        true,
      );
    } finally {
      sending = false;
      refresh();
    }
  });

  // --- lifecycle ---

  function destroy() {
    if (!live.has(api)) return;
    live.delete(api);
    listeners.abort();
    if (!live.size) document.documentElement.classList.remove("mask-editor-open");
  }

  function close({ applied = false } = {}) {
    destroy();
    (root.closest("[data-modal]") || root).remove();
    leaveEditUrl(applied);
    const target = opener?.isConnected ? opener : document.getElementById("edit-button");
    target?.focus();
  }

  // The editor has its own address (…/edit). Leaving it without applying is a step back
  // in history; after an edit was sent, the address becomes the image's again (going back
  // would restore the page as it was, without the new card).
  function leaveEditUrl(applied) {
    if (window.location.pathname !== root.dataset.editUrl) return;
    if (!applied && window.history.state?.htmx) window.history.back();
    else window.history.replaceState(window.history.state, "", root.dataset.detailUrl);
  }

  const loaded = new Promise((resolve, reject) => {
    const image = new Image();
    image.crossOrigin = "anonymous"; // S3 presigned URLs are cross-origin; keep the canvas exportable
    image.onload = () => {
      for (const canvas of [imageCanvas, maskCanvas]) {
        canvas.width = image.naturalWidth;
        canvas.height = image.naturalHeight;
      }
      resetContext();
      imageCtx.drawImage(image, 0, 0);
      ready = true;
      root.dataset.state = "ready";
      refresh();
      resolve();
    };
    image.onerror = () => {
      root.dataset.state = "error";
      say("The image could not be loaded. Close the editor and try again.", true);
      reject(new Error("image failed to load"));
    };
    image.src = root.dataset.imageUrl;
  });
  loaded.catch(() => {});

  const api = {
    ready: loaded,
    exportPng,
    isEmpty: () => !coverage().painted,
    coverage,
    undo,
    redo,
    clear,
    invert,
    close,
    setSize,
    setTool,
    get size() {
      return size;
    },
    get tool() {
      return tool;
    },
  };
  root.maskEditor = api;
  live.add(api);
  api.root = root;
  api.destroy = destroy;
  document.documentElement.classList.add("mask-editor-open");
  resetContext();
  setSize(size);
  setTool("brush");
  refresh();
  requestAnimationFrame(() => root.contains(document.activeElement) || root.focus());
}

function scan(node) {
  if (node.nodeType !== Node.ELEMENT_NODE) return;
  if (node.matches("[data-mask-editor]")) setup(node);
  node.querySelectorAll("[data-mask-editor]").forEach(setup);
}

// One observer catches editors swapped in by htmx (or anything else) and tears down the
// document listeners of editors that were removed without being closed.
new MutationObserver((records) => {
  for (const record of records) record.addedNodes.forEach(scan);
  for (const editor of live) if (!editor.root.isConnected) editor.destroy();
}).observe(document.documentElement, { childList: true, subtree: true });
scan(document.documentElement);
