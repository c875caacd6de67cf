-- Emails are written here in the same transaction as the change that
-- causes them, and a background worker delivers them with retries.
-- `message` is the formatted RFC 5322 message; it is cleared once sent
-- because it carries a single-use link.
CREATE TABLE email_outbox (
    id uuid PRIMARY KEY,
    kind varchar NOT NULL,
    user_id uuid REFERENCES users (id) ON DELETE CASCADE,
    recipient varchar NOT NULL,
    message bytea,
    status varchar NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    locked_until timestamptz,
    last_error varchar,
    created_at timestamptz NOT NULL,
    sent_at timestamptz
);

CREATE INDEX email_outbox_due_idx ON email_outbox (next_attempt_at) WHERE status = 'queued';

-- Password reset links: only the SHA-256 of the token is stored.
CREATE TABLE password_reset_tokens (
    token_hash varchar PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE INDEX password_reset_tokens_user_id_idx ON password_reset_tokens (user_id);
