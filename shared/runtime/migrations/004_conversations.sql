-- Short-term memory: the conversation of each issue or pull request thread (and of each
-- review-comment thread), kept until the thread is deleted, never expiring on its own.
CREATE TABLE messages (
    id           bigserial PRIMARY KEY,
    repository   text NOT NULL,
    number       integer NOT NULL,
    thread       text NOT NULL DEFAULT '',     -- '' for the issue or pull request, else the review thread's root comment id
    role         text NOT NULL CHECK (role IN ('user', 'assistant', 'summary')),
    author       text,
    content      text NOT NULL,
    delivery_id  text,
    summarized   boolean NOT NULL DEFAULT false,  -- folded into a later 'summary' message
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (delivery_id, role)
);
CREATE INDEX messages_thread ON messages (repository, number, thread, id);
