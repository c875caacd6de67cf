-- Same tables as the PostgreSQL migration of the same number.
CREATE TABLE email_outbox (
    id BLOB PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    user_id BLOB REFERENCES users (id) ON DELETE CASCADE,
    recipient TEXT NOT NULL,
    message BLOB,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    locked_until TEXT,
    last_error TEXT,
    created_at TEXT NOT NULL,
    sent_at TEXT
);

CREATE INDEX email_outbox_due_idx ON email_outbox (next_attempt_at) WHERE status = 'queued';

CREATE TABLE password_reset_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE INDEX password_reset_tokens_user_id_idx ON password_reset_tokens (user_id);
