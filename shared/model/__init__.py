"""The model: OpenAI-compatible chat with schema answers and budgets, usage records, and embeddings."""
