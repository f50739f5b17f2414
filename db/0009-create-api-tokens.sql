-- Bearer tokens for the REST API (issue #4). A token is shown once, at creation; only the SHA-256
-- of its secret is stored. Scopes: ingest, read, admin. operator_ids limits what a token sees
-- (NULL: every operator). Tokens are configuration, not events: revoking sets revoked_at.

CREATE TABLE ledger.api_tokens (
    token_id     uuid PRIMARY KEY,
    name         text NOT NULL,
    secret_hash  bytea NOT NULL,
    scopes       text[] NOT NULL,
    operator_ids text[],
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz,
    CONSTRAINT api_tokens_name_check CHECK (name ~ '^[A-Za-z0-9._-]{1,100}$'),
    CONSTRAINT api_tokens_secret_hash_check CHECK (octet_length(secret_hash) = 32),
    CONSTRAINT api_tokens_scopes_check CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['ingest', 'read', 'admin'])
);
-- One live token per name; a revoked name can be issued again.
CREATE UNIQUE INDEX api_tokens_name_key ON ledger.api_tokens (name) WHERE revoked_at IS NULL;

-- The service checks tokens; creating and revoking them is for the owner (the CLI).
GRANT SELECT ON ledger.api_tokens TO ledger_service;
