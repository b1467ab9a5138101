// The vexa console's only script: the copy button of the minted-key page. Everything else
// works without it.
"use strict";
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const field = document.getElementById(button.dataset.copy);
  const status = document.getElementById("copy-status");
  if (!field) return;
  let copied = false;
  try {
    await navigator.clipboard.writeText(field.value);
    copied = true;
  } catch (_) {
    field.focus();
    field.select();
    try { copied = document.execCommand("copy"); } catch (_) { copied = false; }
  }
  if (status) {
    status.textContent = copied
      ? "Copied to the clipboard."
      : "Could not copy: the key is selected, press Ctrl+C (⌘C) to copy it.";
  }
});
