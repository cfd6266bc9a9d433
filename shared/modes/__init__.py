"""Ways to run Petrel beyond one function per deployment: local (`make run`), the CLI, the GitHub Action."""
