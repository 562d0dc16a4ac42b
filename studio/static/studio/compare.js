// Before/after of an edit in the open image: the slider moves the split (the source on
// the left, the edit on the right; arrow keys work as on any range input), and a toggle
// lays the mask that was used over both. Delegated, so it works for panels htmx swaps in.
document.addEventListener("input", (event) => {
  const slider = event.target.closest?.(".compare-slider");
  if (!slider) return;
  slider.closest(".compare").style.setProperty("--split", `${slider.value}%`);
});

document.addEventListener("click", (event) => {
  const toggle = event.target.closest?.(".compare-mask-toggle");
  if (!toggle) return;
  const mask = toggle.closest(".compare").querySelector(".compare-mask");
  const showing = toggle.getAttribute("aria-pressed") !== "true";
  mask.hidden = !showing;
  toggle.setAttribute("aria-pressed", String(showing));
  toggle.textContent = showing ? "Hide the mask" : "Show the mask";
});
