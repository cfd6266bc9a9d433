-- Model usage per call, and the review state of each pull request.
CREATE TABLE usage (
    id                bigserial PRIMARY KEY,
    delivery_id       text,
    repository        text,
    function          text NOT NULL,
    model             text NOT NULL,
    prompt_tokens     integer NOT NULL,
    completion_tokens integer NOT NULL,
    cost_usd          numeric(14, 6) NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX usage_repository_day ON usage (repository, created_at);

CREATE TABLE reviews (
    repository    text NOT NULL,
    pull_number   integer NOT NULL,
    head_sha      text NOT NULL,          -- the last head reviewed: the next push is reviewed from here
    reviewed_at   timestamptz NOT NULL DEFAULT now(),
    files_reviewed integer NOT NULL DEFAULT 0,
    comments      integer NOT NULL DEFAULT 0,
    not_reviewed  integer NOT NULL DEFAULT 0,
    PRIMARY KEY (repository, pull_number)
);
