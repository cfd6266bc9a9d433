-- Long-term memory: chunks of a repository's files, its issues and pull requests, comments and
-- feedback, each with an embedding (of the model named in `model`) and a full-text vector.
CREATE TABLE documents (
    id              bigserial PRIMARY KEY,
    installation_id bigint,
    repository      text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('file', 'issue', 'pull_request', 'comment', 'feedback')),
    source          text NOT NULL,           -- a path, or an issue or pull request number
    version         text,                    -- the file's blob sha, or the issue's updated_at
    chunk           integer NOT NULL DEFAULT 0,
    title           text NOT NULL DEFAULT '',
    body            text NOT NULL,
    url             text,
    state           text,                    -- issues and pull requests: open or closed
    start_line      integer,
    end_line        integer,
    model           text NOT NULL,           -- vectors of two models are never compared
    embedding       vector NOT NULL,
    tsv             tsvector GENERATED ALWAYS AS (
                        to_tsvector('english', left(title || ' ' || body, 200000))) STORED,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (repository, kind, source, chunk)
);
CREATE INDEX documents_repository ON documents (repository, kind, source);
CREATE INDEX documents_repository_model ON documents (repository, model);
CREATE INDEX documents_installation ON documents (installation_id);
CREATE INDEX documents_tsv ON documents USING gin (tsv);
-- HNSW indexes are made per embedding model and dimension by shared/memory.py (ensure_index).
