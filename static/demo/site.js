// The demo's forms save nothing: their submit stays on the page (kept out of the markup,
// where an inline handler would need 'unsafe-inline' in the Content-Security-Policy).
for (const form of document.querySelectorAll("form[data-demo-form]")) {
  form.addEventListener("submit", (event) => event.preventDefault());
}
