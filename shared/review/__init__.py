"""Pull request reviews: planning (pure), the entry point, and the last reviewed head."""
