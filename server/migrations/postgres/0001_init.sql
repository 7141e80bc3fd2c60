-- DMP companion server schema for PostgreSQL, version 1 (the SQLite schema
-- of migrations 0001-0002 in PostgreSQL types). Migrations are append-only;
-- server/src/store/postgres.rs applies them under an advisory lock, so
-- several nodes starting at once apply each exactly once.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO meta (key, value) VALUES ('revision', 0);

CREATE TABLE users (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('patient', 'medecin', 'admin')),
    name            TEXT NOT NULL,
    username        TEXT NOT NULL,
    password_hash   TEXT NOT NULL,
    disabled        BOOLEAN NOT NULL DEFAULT FALSE,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    kdf_salt        TEXT,
    kdf_params      TEXT,
    public_keys     TEXT,
    key_backup      TEXT,
    keys_updated_at TIMESTAMPTZ
);
-- Login names are case-insensitive (SQLite: COLLATE NOCASE).
CREATE UNIQUE INDEX users_username ON users (lower(username));

CREATE TABLE contexts (
    kind       TEXT NOT NULL CHECK (kind IN ('ordonnance', 'examen')),
    id         TEXT NOT NULL,
    title      TEXT NOT NULL,
    date       TEXT NOT NULL,
    patient_id TEXT NOT NULL REFERENCES users (id),
    doctor_id  TEXT NOT NULL REFERENCES users (id),
    summary    TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX contexts_patient ON contexts (patient_id);
CREATE INDEX contexts_doctor ON contexts (doctor_id);

CREATE TABLE sessions (
    id             TEXT PRIMARY KEY,
    context_kind   TEXT NOT NULL,
    context_id     TEXT NOT NULL,
    patient_id     TEXT NOT NULL,
    doctor_id      TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('active', 'archived', 'closed')),
    created_at     TIMESTAMPTZ NOT NULL,
    last_activity  TIMESTAMPTZ NOT NULL,
    message_count  BIGINT NOT NULL DEFAULT 0,
    last_seq       BIGINT NOT NULL DEFAULT 0,
    unread_patient BIGINT NOT NULL DEFAULT 0,
    unread_doctor  BIGINT NOT NULL DEFAULT 0,
    UNIQUE (context_kind, context_id, patient_id, doctor_id)
);
CREATE INDEX sessions_activity ON sessions (status, last_activity);
CREATE INDEX sessions_patient ON sessions (patient_id);
CREATE INDEX sessions_doctor ON sessions (doctor_id);

CREATE TABLE messages (
    id                TEXT PRIMARY KEY,
    session_id        TEXT NOT NULL REFERENCES sessions (id),
    seq               BIGINT NOT NULL,
    client_message_id TEXT NOT NULL,
    sender_id         TEXT NOT NULL,
    recipient_id      TEXT NOT NULL,
    kind              TEXT NOT NULL,
    content           TEXT NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL,
    status            TEXT NOT NULL,
    delivered_at      TIMESTAMPTZ,
    read_at           TIMESTAMPTZ,
    deleted_at        TIMESTAMPTZ,
    is_urgent         BOOLEAN NOT NULL,
    requires_response BOOLEAN NOT NULL,
    attachments       TEXT NOT NULL DEFAULT '[]',
    UNIQUE (session_id, seq),
    UNIQUE (sender_id, client_message_id)
);
CREATE INDEX messages_recipient_unread ON messages (recipient_id, status);
CREATE INDEX messages_created ON messages (created_at);

CREATE TABLE attachments (
    id         TEXT PRIMARY KEY,
    owner_id   TEXT NOT NULL,
    name       TEXT NOT NULL,
    mime_type  TEXT NOT NULL,
    size       BIGINT NOT NULL,
    sha256     TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    message_id TEXT
);
CREATE INDEX attachments_message ON attachments (message_id);
CREATE INDEX attachments_owner ON attachments (owner_id);

CREATE TABLE notifications (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL,
    message_id   TEXT NOT NULL,
    session_id   TEXT NOT NULL,
    sender_id    TEXT NOT NULL,
    context_kind TEXT NOT NULL,
    context_id   TEXT NOT NULL,
    title        TEXT NOT NULL,
    body         TEXT NOT NULL,
    is_urgent    BOOLEAN NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    seen_at      TIMESTAMPTZ
);
CREATE INDEX notifications_user ON notifications (user_id, seen_at);
CREATE INDEX notifications_message ON notifications (message_id);

-- One refresh-token family per login; revoking it ends the login everywhere.
CREATE TABLE auth_families (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX auth_families_user ON auth_families (user_id);
CREATE INDEX auth_families_revoked ON auth_families (revoked_at);

CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    family_id  TEXT NOT NULL REFERENCES auth_families (id),
    created_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

-- Append-only, hash-chained. `id` is given by the writer under the audit
-- advisory lock (no gaps, commit order = id order); `time` is whole
-- milliseconds, as hashed.
CREATE TABLE audit (
    id         BIGINT PRIMARY KEY,
    time       TIMESTAMPTZ NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    target     TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    ip         TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    request_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);
CREATE INDEX audit_time ON audit (time);
CREATE INDEX audit_actor ON audit (actor);
CREATE INDEX audit_session ON audit (session_id);
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit is append-only';
END;
$$;
CREATE TRIGGER audit_no_update BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();

-- Changes to users, contexts and logins, in commit order, for the nodes'
-- directory caches (docs/deployment.md). Writers take an advisory lock
-- before inserting, so a reader that saw `rev = N` never later finds a new
-- row with `rev <= N`.
CREATE TABLE directory_changes (
    rev          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at           TIMESTAMPTZ NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('user', 'context', 'login', 'logins_of', 'all')),
    user_id      TEXT,
    doctor_id    TEXT,
    context_kind TEXT,
    context_id   TEXT,
    login_id     TEXT
);
CREATE INDEX directory_changes_at ON directory_changes (at);
