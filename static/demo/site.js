// The demo's forms save nothing: their submit stays on the page (kept out of the markup,
// where an inline handler would need 'unsafe-inline' in the Content-Security-Policy).
for (const form of document.querySelectorAll("form[data-demo-form]")) {
  form.addEventListener("submit", (event) => event.preventDefault());
}

// The language switch submits itself on a choice (its button stays for readers without JS).
for (const select of document.querySelectorAll("select[data-submit-on-change]")) {
  select.addEventListener("change", () => select.form.submit());
}
