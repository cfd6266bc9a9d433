-- The event pipeline: the inbox of deliveries and the jobs made from them.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE deliveries (
    id              text PRIMARY KEY,          -- X-GitHub-Delivery: the idempotency key
    event           text NOT NULL,             -- X-GitHub-Event
    action          text,
    installation_id bigint,
    repository      text,                      -- owner/name
    payload         jsonb NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now(),
    forwarded_at    timestamptz                -- K_SINK mode: when the CloudEvent was accepted by the sink
);
CREATE INDEX deliveries_received ON deliveries (received_at);

CREATE TABLE jobs (
    id            bigserial PRIMARY KEY,
    delivery_id   text NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    function      text NOT NULL,
    status        text NOT NULL DEFAULT 'queued'
                  CHECK (status IN ('queued', 'running', 'done', 'dead', 'superseded')),
    attempts      integer NOT NULL DEFAULT 0,
    max_attempts  integer NOT NULL,
    run_at        timestamptz NOT NULL DEFAULT now(),
    lease_until   timestamptz,
    lease_token   uuid,                        -- who holds the lease: a stale worker cannot finish a retaken job
    serial_key    text,                        -- jobs with one key (function + thread) run one at a time
    supersede_key text,                        -- pull request: a newer synchronize replaces queued jobs
    event_time    timestamptz,                 -- pull_request.updated_at, to order competing pushes
    last_error    text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    finished_at   timestamptz,
    UNIQUE (delivery_id, function)
);
CREATE INDEX jobs_ready ON jobs (run_at, id) WHERE status IN ('queued', 'running');
CREATE INDEX jobs_serial_running ON jobs (serial_key) WHERE status = 'running';
-- supersession: the queued jobs of a pull request, and its newest job in any status
CREATE INDEX jobs_supersede_queued ON jobs (function, supersede_key) WHERE status = 'queued';
CREATE INDEX jobs_supersede_newest ON jobs (function, supersede_key, event_time DESC, id DESC)
    WHERE supersede_key IS NOT NULL;
