"""Long-term and short-term memory: documents in pgvector with hybrid search, chunking, indexing, conversations and feedback."""
