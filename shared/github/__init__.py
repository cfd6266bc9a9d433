"""GitHub: the client (App tokens, retries, rate limits, write spacing), Petrel's identity, markers, the typed actions and their executor, pull request sources, notices."""
