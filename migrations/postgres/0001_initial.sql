-- The users and posts tables match the FastAPI reference app's schema, so a
-- database that app created can be adopted: every statement here is a no-op
-- on what that app already made, and only adds what postgate needs.

CREATE TABLE IF NOT EXISTS users (
    id uuid PRIMARY KEY,
    name varchar NOT NULL,
    email varchar NOT NULL UNIQUE,
    password varchar NOT NULL,
    photo varchar NOT NULL,
    verified boolean NOT NULL DEFAULT false,
    verification_code varchar UNIQUE,
    role varchar NOT NULL DEFAULT 'user',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Links the reference app already sent never expired; give them the default
-- lifetime from the moment of adoption instead of forever.
ALTER TABLE users ADD COLUMN IF NOT EXISTS verification_expires_at timestamptz;
UPDATE users
SET verification_expires_at = now() + interval '24 hours'
WHERE verification_code IS NOT NULL AND verification_expires_at IS NULL;

CREATE TABLE IF NOT EXISTS posts (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title varchar NOT NULL,
    content varchar NOT NULL,
    category varchar NOT NULL,
    image varchar NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The post list is ordered newest first with the id as tie-breaker.
CREATE INDEX IF NOT EXISTS posts_created_at_id_idx ON posts (created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS posts_user_id_idx ON posts (user_id);

-- One row per login. The refresh token rotates inside the row: refresh_jti is
-- the live token, previous_refresh_jti the one it replaced at rotated_at.
CREATE TABLE sessions (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    refresh_jti uuid NOT NULL,
    previous_refresh_jti uuid,
    rotated_at timestamptz,
    created_at timestamptz NOT NULL,
    last_used_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz,
    user_agent varchar,
    ip varchar
);

CREATE INDEX sessions_user_id_idx ON sessions (user_id);
