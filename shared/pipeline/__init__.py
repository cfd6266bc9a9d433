"""The pipeline: webhook deliveries verified and stored, routed to the functions that subscribe, queued, and run by workers."""
