"""Runtime: settings, logging with redaction, the database pool and migrations, the job's scope and deadline, locks."""
