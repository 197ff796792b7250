"""The help docs as the answering path reads them: which docs a reader may see and which
match a question (selectors), question normalising (text), the safe Markdown (markdown)."""
