-- DMP companion server schema, version 1. Migrations are append-only.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) STRICT;
INSERT INTO meta (key, value) VALUES ('revision', 0);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('patient', 'medecin', 'admin')),
    name          TEXT NOT NULL,
    username      TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE contexts (
    kind       TEXT NOT NULL CHECK (kind IN ('ordonnance', 'examen')),
    id         TEXT NOT NULL,
    title      TEXT NOT NULL,
    date       TEXT NOT NULL,
    patient_id TEXT NOT NULL REFERENCES users (id),
    doctor_id  TEXT NOT NULL REFERENCES users (id),
    summary    TEXT NOT NULL,
    PRIMARY KEY (kind, id)
) STRICT;
CREATE INDEX contexts_patient ON contexts (patient_id);
CREATE INDEX contexts_doctor ON contexts (doctor_id);

CREATE TABLE sessions (
    id             TEXT PRIMARY KEY,
    context_kind   TEXT NOT NULL,
    context_id     TEXT NOT NULL,
    patient_id     TEXT NOT NULL,
    doctor_id      TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('active', 'archived', 'closed')),
    created_at     INTEGER NOT NULL,
    last_activity  INTEGER NOT NULL,
    message_count  INTEGER NOT NULL DEFAULT 0,
    last_seq       INTEGER NOT NULL DEFAULT 0,
    unread_patient INTEGER NOT NULL DEFAULT 0,
    unread_doctor  INTEGER NOT NULL DEFAULT 0,
    UNIQUE (context_kind, context_id, patient_id, doctor_id)
) STRICT;
CREATE INDEX sessions_activity ON sessions (status, last_activity);

CREATE TABLE messages (
    id                TEXT PRIMARY KEY,
    session_id        TEXT NOT NULL REFERENCES sessions (id),
    seq               INTEGER NOT NULL,
    client_message_id TEXT NOT NULL,
    sender_id         TEXT NOT NULL,
    recipient_id      TEXT NOT NULL,
    kind              TEXT NOT NULL,
    content           TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    status            TEXT NOT NULL,
    delivered_at      INTEGER,
    read_at           INTEGER,
    deleted_at        INTEGER,
    is_urgent         INTEGER NOT NULL,
    requires_response INTEGER NOT NULL,
    attachments       TEXT NOT NULL DEFAULT '[]',
    UNIQUE (session_id, seq),
    UNIQUE (sender_id, client_message_id)
) STRICT;
CREATE INDEX messages_recipient_unread ON messages (recipient_id, status);
CREATE INDEX messages_created ON messages (created_at);

CREATE TABLE attachments (
    id         TEXT PRIMARY KEY,
    owner_id   TEXT NOT NULL,
    name       TEXT NOT NULL,
    mime_type  TEXT NOT NULL,
    size       INTEGER NOT NULL,
    sha256     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    message_id TEXT
) STRICT;
CREATE INDEX attachments_message ON attachments (message_id);

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
    is_urgent    INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    seen_at      INTEGER
) STRICT;
CREATE INDEX notifications_user ON notifications (user_id, seen_at);
CREATE INDEX notifications_message ON notifications (message_id);

-- One refresh-token family per login; revoking it ends the login everywhere.
CREATE TABLE auth_families (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;
CREATE INDEX auth_families_user ON auth_families (user_id);

CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    family_id  TEXT NOT NULL REFERENCES auth_families (id),
    created_at INTEGER NOT NULL,
    used_at    INTEGER
) STRICT;
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

-- Append-only, hash-chained.
CREATE TABLE audit (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    time       INTEGER NOT NULL,
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
) STRICT;
CREATE INDEX audit_time ON audit (time);
CREATE INDEX audit_actor ON audit (actor);
CREATE INDEX audit_session ON audit (session_id);
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
