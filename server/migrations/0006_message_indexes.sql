-- Fewer random index pages per message (docs/performance.md, "Store").
-- * The idempotency key is indexed as (client_message_id, sender_id): the
--   same constraint, but clients make time-ordered ids (UUID v7), so new keys
--   land at the end of the index instead of on a page of their sender's.
-- * A recipient's messages are indexed by (recipient_id, read_at) instead of
--   (recipient_id, status): unread is `read_at IS NULL`, and marking a
--   message delivered no longer rewrites an index entry (only reading does).
-- * `system_event` holds the event of a `system` message (JSON of
--   `SystemEvent`: a conversation closed or reopened; docs/messaging.md).
-- * A session keeps since when the patient's messages wait for the doctor
--   (`waiting_since`, set by the first patient message after the doctor's
--   last one) and, after the doctor's answer, how long that was
--   (`answered_wait`): the `responseTime` metric, read back from the same
--   row update that gives the message its seq (docs/messaging.md, "Metrics").
-- SQLite cannot drop a table constraint: the table is rebuilt, rows and
-- rowids kept.
CREATE TABLE messages_new (
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
    category          TEXT,
    system_event      TEXT,
    urgent_mailed_at  INTEGER,
    UNIQUE (session_id, seq),
    UNIQUE (client_message_id, sender_id)
) STRICT;
INSERT INTO messages_new (rowid, id, session_id, seq, client_message_id, sender_id, recipient_id, kind, content,
                          created_at, status, delivered_at, read_at, deleted_at, is_urgent, requires_response,
                          attachments, category)
    SELECT rowid, id, session_id, seq, client_message_id, sender_id, recipient_id, kind, content,
           created_at, status, delivered_at, read_at, deleted_at, is_urgent, requires_response,
           attachments, category
    FROM messages ORDER BY rowid;
DROP TABLE messages;
ALTER TABLE messages_new RENAME TO messages;
CREATE INDEX messages_recipient ON messages (recipient_id, read_at);
CREATE INDEX messages_created ON messages (created_at);
ALTER TABLE sessions ADD COLUMN waiting_since INTEGER;
ALTER TABLE sessions ADD COLUMN answered_wait INTEGER;
-- The patient's access log (docs/messaging.md, "The patient's access log"):
-- the accesses to a conversation and the administrator's actions on an
-- account, each through a partial index that a send never touches.
CREATE INDEX audit_access ON audit (session_id)
    WHERE action IN ('history', 'export', 'download', 'session_close', 'session_reopen', 'archive');
CREATE INDEX audit_account ON audit (target) WHERE actor = 'admin-cli';
-- The urgent-message e-mail (docs/messaging.md, "Urgent e-mail"): where a
-- user's goes (set by the administrator), and when a message was mailed
-- about; the partial index holds only urgent messages not yet read, deleted
-- or mailed about, so an ordinary send never writes into it.
CREATE TABLE user_emails (
    user_id    TEXT PRIMARY KEY REFERENCES users (id),
    email      TEXT NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
CREATE INDEX messages_urgent_unmailed ON messages (created_at)
    WHERE is_urgent = 1 AND urgent_mailed_at IS NULL AND read_at IS NULL AND deleted_at IS NULL;
-- A doctor's absence (docs/messaging.md, "Absence"): one at a time, the
-- current or the next; `id` changes with every new absence, and a session
-- remembers the absence it answered (`absence_replied`), so that a patient
-- gets the automatic answer once per conversation and absence.
CREATE TABLE absences (
    doctor_id TEXT PRIMARY KEY REFERENCES users (id),
    id        TEXT NOT NULL,
    starts_at INTEGER NOT NULL,
    ends_at   INTEGER NOT NULL,
    note      TEXT
) STRICT;
ALTER TABLE sessions ADD COLUMN absence_replied TEXT;
