"""The HTTP side of the views: input parsing (validation), who asks (visitors), the SSE
framing (sse) and the cap on open streams (streams)."""
