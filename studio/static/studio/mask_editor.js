// RYLA Studio mask editor: paint the area of an image to repaint, then ask for an inpaint.
//
// Wires up every [data-mask-editor] element (studio/_edit_modal.html), whether present at
// load or swapped in later by htmx. The exported PNG follows ComfyUI's LoadImage convention
// (DESIGN.md): the source image at its natural size whose alpha is 0 where painted (repaint)
// and 255 elsewhere (keep).
//
// The mask canvas is painted with an OPAQUE colour and shown see-through by CSS opacity
// only, so its alpha is a clean coverage value (a soft brush leaves partial coverage at its
// edge: a partial repaint); the export subtracts it from the source with 'destination-out'.
// Zoom and pan transform both canvases alike; pointer positions are read back through the
// transform, so painting is exact at any zoom. Tests reach the editor through `root.maskEditor`.

const MAX_SIZE = 250;
const MAX_ZOOM = 8;
// Display colours only: the export reads the mask's alpha, never its colour.
const COLOURS = {
  pink: [255, 60, 120],
  cyan: [0, 220, 255],
  yellow: [255, 225, 0],
  green: [40, 255, 90],
  white: [255, 255, 255],
};
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
  const hardnessInput = part("hardness");
  const opacityInput = part("opacity");
  const colourSelect = part("colour");
  const zoomOut = part("zoom");
  const shapeBox = part("shape");
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
  let hardness = 1;
  let colour = COLOURS.pink;
  let view = { z: 1, x: 0, y: 0 }; // zoom and pan of both canvases, in stage pixels
  let pan = null; // a drag that moves the view (space held, or the middle button)
  let spaceHeld = false;
  const touches = new Map(); // touch pointers down: two of them pinch
  let pinch = null;
  let pending = null; // a rectangle or ellipse being placed: {shape, x, y, w, h} in image px
  let shapeStart = null; // where a pointer drag of a shape began

  function clampSize(value) {
    return Math.min(MAX_SIZE, Math.max(1, Math.round(value)));
  }

  function resetContext() {
    ctx = maskCanvas.getContext("2d", { willReadFrequently: true });
    ctx.strokeStyle = ctx.fillStyle = `rgb(${colour.join(",")})`;
    ctx.lineCap = ctx.lineJoin = "round";
  }

  // A soft brush lays radial dabs along the path (every quarter of the size); a hard one a
  // round-capped line. Both are deterministic, so a replay after undo draws the same pixels.
  function dab(op, x, y) {
    const r = op.size / 2;
    const rgb = colour.join(",");
    const fill = ctx.createRadialGradient(x, y, 0, x, y, r);
    fill.addColorStop(0, `rgba(${rgb},1)`);
    // Hardness 0 still repaints the inner half fully: only the outer half fades.
    fill.addColorStop(Math.min(0.99, 0.5 + op.hardness / 2), `rgba(${rgb},1)`);
    fill.addColorStop(1, `rgba(${rgb},0)`);
    ctx.fillStyle = fill;
    ctx.fillRect(x - r, y - r, op.size, op.size);
    ctx.fillStyle = `rgb(${rgb})`;
  }

  function drawSoft(op, from, to) {
    if (!from) return dab(op, to[0], to[1]);
    const spacing = Math.max(1, op.size / 4);
    const length = Math.hypot(to[0] - from[0], to[1] - from[1]);
    for (let d = spacing; d <= length + 1e-6; d += spacing) {
      dab(op, from[0] + ((to[0] - from[0]) * d) / length, from[1] + ((to[1] - from[1]) * d) / length);
    }
  }

  // --- drawing: the same code paints live and replays history, so undo/redo is exact ---

  function draw(op, from, to) {
    ctx.globalCompositeOperation = op.tool === "eraser" ? "destination-out" : "source-over";
    if (op.hardness < 1) return drawSoft(op, from, to);
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
    } else if (op.type === "shape") {
      ctx.globalCompositeOperation = "source-over";
      ctx.beginPath();
      if (op.shape === "ellipse") {
        ctx.ellipse(op.x + op.w / 2, op.y + op.h / 2, op.w / 2, op.h / 2, 0, 0, 2 * Math.PI);
      } else {
        ctx.rect(op.x, op.y, op.w, op.h);
      }
      ctx.fill();
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

  // --- zoom and pan: one transform on both canvases; toImage() reads it back ---

  function applyView() {
    const transform = `translate(${view.x}px, ${view.y}px) scale(${view.z})`;
    imageCanvas.style.transform = maskCanvas.style.transform = transform;
    root.dataset.zoom = view.z.toFixed(2);
    zoomOut.textContent = `${Math.round(view.z * 100)}%`;
    moveCursor();
    showShape();
  }

  function clampView() {
    // The image always covers the stage: no zooming out past fit, no panning past an edge.
    const width = imageCanvas.offsetWidth;
    const height = imageCanvas.offsetHeight;
    view.z = Math.min(MAX_ZOOM, Math.max(1, view.z));
    view.x = Math.min(0, Math.max(width - width * view.z, view.x));
    view.y = Math.min(0, Math.max(height - height * view.z, view.y));
  }

  function zoomAt(factor, clientX, clientY) {
    // The image point under (clientX, clientY) stays under it.
    const box = stage.getBoundingClientRect();
    const px = clientX - box.left;
    const py = clientY - box.top;
    const cx = (px - view.x) / view.z;
    const cy = (py - view.y) / view.z;
    view.z = Math.min(MAX_ZOOM, Math.max(1, view.z * factor));
    view.x = px - cx * view.z;
    view.y = py - cy * view.z;
    clampView();
    applyView();
  }

  function zoomBy(factor) {
    const box = stage.getBoundingClientRect();
    zoomAt(factor, box.left + box.width / 2, box.top + box.height / 2);
  }
  const zoomIn = () => zoomBy(1.5);
  const zoomOutBy = () => zoomBy(1 / 1.5);
  const fit = () => {
    view = { z: 1, x: 0, y: 0 };
    applyView();
  };

  on(stage, "wheel", (event) => {
    if (!ready) return;
    event.preventDefault();
    zoomAt(Math.exp(-event.deltaY * 0.0015), event.clientX, event.clientY);
  });

  // --- rectangle and ellipse: dragged with the pointer, or placed with the keyboard ---

  const isShapeTool = () => tool === "rect" || tool === "ellipse";

  function showShape() {
    shapeBox.hidden = !pending;
    if (!pending) return;
    const box = maskCanvas.getBoundingClientRect();
    const stageBox = stage.getBoundingClientRect();
    const scale = box.width / maskCanvas.width;
    shapeBox.classList.toggle("is-ellipse", pending.shape === "ellipse");
    shapeBox.style.left = `${box.left - stageBox.left + pending.x * scale}px`;
    shapeBox.style.top = `${box.top - stageBox.top + pending.y * scale}px`;
    shapeBox.style.width = `${pending.w * scale}px`;
    shapeBox.style.height = `${pending.h * scale}px`;
  }

  function shapeFrom(a, b) {
    const x = Math.min(a[0], b[0]);
    const y = Math.min(a[1], b[1]);
    return { shape: tool, x, y, w: Math.abs(a[0] - b[0]), h: Math.abs(a[1] - b[1]) };
  }

  function shapeSay() {
    const name = pending.shape === "ellipse" ? "Ellipse" : "Rectangle";
    const r = Math.round;
    say(`${name} ${r(pending.w)} × ${r(pending.h)} px at ${r(pending.x)}, ${r(pending.y)}. Enter fills it.`);
  }

  function shapeCommit() {
    const shape = pending;
    pending = shapeStart = null;
    showShape();
    if (!shape || shape.w < 1 || shape.h < 1) return;
    say("");
    commit({ type: "shape", ...shape });
  }

  function shapeKey(event) {
    // Arrows move the shape (a fiftieth of the image; Alt: one pixel), Shift+arrows resize it.
    const { width, height } = maskCanvas;
    if (event.key === "Enter" || event.key === " ") {
      if (!pending) return false;
      shapeCommit();
      return true;
    }
    const arrows = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    const move = arrows[event.key];
    if (!move) return false;
    if (!pending) {
      pending = { shape: tool, x: width / 3, y: height / 3, w: width / 3, h: height / 3 };
    } else {
      const step = event.altKey ? 1 : Math.max(1, Math.round(Math.max(width, height) / 50));
      if (event.shiftKey) {
        pending.w = Math.min(width - pending.x, Math.max(1, pending.w + move[0] * step));
        pending.h = Math.min(height - pending.y, Math.max(1, pending.h + move[1] * step));
      } else {
        pending.x = Math.min(width - pending.w, Math.max(0, pending.x + move[0] * step));
        pending.y = Math.min(height - pending.h, Math.max(0, pending.y + move[1] * step));
      }
    }
    pending.shape = tool;
    showShape();
    shapeSay();
    return true;
  }

  // --- pointer input: paint, drag a shape, pan (space or middle button), pinch to zoom ---

  function strokeCancel() {
    // A second finger turns a stroke into a pinch: the dab the first finger left goes.
    if (stroke && ops[ops.length - 1] === stroke) {
      ops.pop();
      redraw();
    }
    stroke = last = pending = shapeStart = pan = null;
    if (pointerId !== null && maskCanvas.hasPointerCapture(pointerId)) {
      maskCanvas.releasePointerCapture(pointerId);
    }
    pointerId = null;
    showShape();
    refresh();
  }

  const middle = (a, b) => [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2];
  const apart = (a, b) => Math.hypot(a[0] - b[0], a[1] - b[1]) || 1;

  on(maskCanvas, "pointerdown", (event) => {
    if (!ready || sending) return;
    if (event.pointerType === "touch") {
      touches.set(event.pointerId, [event.clientX, event.clientY]);
      if (touches.size === 2) {
        strokeCancel();
        const [a, b] = touches.values();
        pinch = { distance: apart(a, b), centre: middle(a, b) };
        return;
      }
    }
    if (pointerId !== null || touches.size > 2) return;
    if (event.pointerType === "mouse" && event.button !== 0 && event.button !== 1) return;
    event.preventDefault();
    pointerId = event.pointerId;
    maskCanvas.setPointerCapture(pointerId);
    if (spaceHeld || event.button === 1) {
      pan = { start: [event.clientX, event.clientY], from: { ...view } };
      return;
    }
    if (status.classList.contains("is-error")) say(""); // painting answers "paint first"
    if (isShapeTool()) {
      shapeStart = toImage(event);
      pending = shapeFrom(shapeStart, shapeStart);
      showShape();
      return;
    }
    last = toImage(event);
    stroke = { type: "stroke", tool, size, hardness, points: [last] };
    draw(stroke, null, last);
    commit(stroke);
  });

  on(maskCanvas, "pointermove", (event) => {
    if (touches.has(event.pointerId)) touches.set(event.pointerId, [event.clientX, event.clientY]);
    if (pinch && touches.size === 2) {
      const [a, b] = touches.values();
      const centre = middle(a, b);
      view.x += centre[0] - pinch.centre[0];
      view.y += centre[1] - pinch.centre[1];
      zoomAt(apart(a, b) / pinch.distance, centre[0], centre[1]);
      pinch = { distance: apart(a, b), centre };
      return;
    }
    stage.dataset.cursor = "";
    moveCursor(event);
    if (event.pointerId !== pointerId) return;
    if (pan) {
      view.x = pan.from.x + event.clientX - pan.start[0];
      view.y = pan.from.y + event.clientY - pan.start[1];
      clampView();
      applyView();
      return;
    }
    if (shapeStart) {
      pending = shapeFrom(shapeStart, toImage(event));
      showShape();
      return;
    }
    if (!last) return;
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
    touches.delete(event.pointerId);
    if (touches.size < 2) pinch = null;
    if (event.pointerId !== pointerId) return;
    if (shapeStart) shapeCommit();
    pointerId = stroke = last = pan = null;
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
    tool = ["eraser", "rect", "ellipse"].includes(value) ? value : "brush";
    root.dataset.tool = tool;
    root.querySelector(`input[name="tool"][value="${tool}"]`).checked = true;
    if (pending && isShapeTool()) {
      pending.shape = tool;
      showShape();
    } else if (pending) {
      pending = null;
      showShape();
    }
  }

  function setHardness(percent) {
    hardness = Math.min(100, Math.max(0, Number(percent))) / 100;
    part("hardness-out").textContent = `${Math.round(hardness * 100)}%`;
  }

  function setOpacity(percent) {
    maskCanvas.style.opacity = String(Number(percent) / 100);
    part("opacity-out").textContent = `${percent}%`;
  }

  function setColour(name) {
    colour = name === "auto" ? standOutColour() : COLOURS[name] || COLOURS.pink;
    root.dataset.colour = colour.join(",");
    resetContext();
    redraw();
  }

  function standOutColour() {
    // The palette colour farthest from the picture's average: visible on any image.
    if (!ready) return COLOURS.pink;
    const probe = document.createElement("canvas");
    probe.width = probe.height = 16;
    const c = probe.getContext("2d", { willReadFrequently: true });
    c.drawImage(imageCanvas, 0, 0, 16, 16);
    const data = c.getImageData(0, 0, 16, 16).data;
    const mean = [0, 1, 2].map((k) => {
      let sum = 0;
      for (let i = k; i < data.length; i += 4) sum += data[i];
      return sum / (data.length / 4);
    });
    const distance = (rgb) => rgb.reduce((total, v, k) => total + (v - mean[k]) ** 2, 0);
    return Object.values(COLOURS).reduce((best, rgb) => (distance(rgb) > distance(best) ? rgb : best));
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
  on(hardnessInput, "input", () => setHardness(hardnessInput.value));
  on(opacityInput, "input", () => setOpacity(opacityInput.value));
  on(colourSelect, "change", () => setColour(colourSelect.value));
  on(form, "input", (event) => {
    const out = form.querySelector(`[data-out-for="${event.target.name}"]`);
    if (!out) return;
    const value = Number(event.target.value);
    out.textContent = event.target.step.includes(".") ? value.toFixed(2) : `${value}${out.dataset.unit || ""}`;
  });
  root.querySelectorAll('input[name="tool"]').forEach((radio) =>
    on(radio, "change", () => setTool(radio.value)),
  );
  on(root, "click", (event) => {
    const action = event.target.closest("[data-action]")?.dataset.action;
    const actions = { undo, redo, clear, invert, close, zoomIn, zoomOut: zoomOutBy, fit };
    if (actions[action]) actions[action]();
  });

  // --- keyboard: shortcuts, Escape, focus trap ---

  on(document, "keydown", (event) => {
    if (!root.isConnected) return destroy();
    if (event.key === "Escape") {
      event.preventDefault();
      if (pending) {
        pending = shapeStart = null;
        showShape();
        return say("");
      }
      return close();
    }
    if (event.key === "Tab") return trapTab(event);
    if (event.target === maskCanvas && isShapeTool() && ready && shapeKey(event)) {
      return event.preventDefault();
    }
    if (isTextField(event.target) || event.altKey) return;
    if (event.key === " " && !/^(BUTTON|INPUT|SUMMARY|SELECT)$/.test(event.target.tagName)) {
      spaceHeld = true;
      stage.dataset.pan = "";
      return event.preventDefault();
    }
    const key = event.key.toLowerCase();
    const step = Math.max(1, Math.round(size / 10));
    if ((event.ctrlKey || event.metaKey) && key === "z") event.shiftKey ? redo() : undo();
    else if ((event.ctrlKey || event.metaKey) && key === "y") redo();
    else if (event.ctrlKey || event.metaKey) return;
    else if (key === "[") setSize(size - step);
    else if (key === "]") setSize(size + step);
    else if (key === "x") setTool(tool === "brush" ? "eraser" : "brush");
    else if (key === "b") setTool("brush");
    else if (key === "r") setTool("rect");
    else if (key === "e") setTool("ellipse");
    else if (key === "+" || key === "=") zoomIn();
    else if (key === "-") zoomOutBy();
    else if (key === "0") fit();
    else return;
    event.preventDefault();
  });

  on(document, "keyup", (event) => {
    if (event.key !== " ") return;
    spaceHeld = false;
    delete stage.dataset.pan;
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
      payload.denoise = Number(form.elements.denoise.value);
      payload.maskFeather = Number(form.elements.maskFeather.value);
      payload.onlyMasked = form.elements.onlyMasked.checked;
      payload.maskPadding = Number(form.elements.maskPadding.value);
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
      setColour(colourSelect.value);
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
    setHardness,
    setColour,
    zoomAt,
    fit,
    get view() {
      return { ...view };
    },
    get pending() {
      return pending && { ...pending };
    },
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
  setHardness(hardnessInput.value);
  setOpacity(opacityInput.value);
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
