-- The directory change log: every change to users, contexts or logins is
-- appended here in the same transaction, so that each server node
-- invalidates only the cache entries it concerns (docs/directory.md).
CREATE TABLE directory_changes (
    rev          INTEGER PRIMARY KEY AUTOINCREMENT,
    at           INTEGER NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('user', 'context', 'login', 'logins_of', 'all')),
    user_id      TEXT,
    doctor_id    TEXT,
    context_kind TEXT,
    context_id   TEXT,
    login_id     TEXT
) STRICT;
CREATE INDEX directory_changes_at ON directory_changes (at);
-- Active logins of a user, and the contexts of a user newest first.
CREATE INDEX auth_families_user_active ON auth_families (user_id, revoked_at, expires_at);
