"""`/ask`: a bounded tool-calling loop over read-only tools, and its entry point."""
