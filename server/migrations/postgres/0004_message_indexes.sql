-- Fewer index entries rewritten per message (docs/performance.md, "Store"),
-- as in SQLite's 0006: the idempotency key indexed as (client_message_id,
-- sender_id), time-ordered ids landing at the end of the index; a
-- recipient's messages indexed by (recipient_id, read_at), which marking a
-- message delivered does not touch.
ALTER TABLE messages DROP CONSTRAINT messages_sender_id_client_message_id_key;
ALTER TABLE messages ADD CONSTRAINT messages_client_message_id_sender_id_key UNIQUE (client_message_id, sender_id);
DROP INDEX messages_recipient_unread;
CREATE INDEX messages_recipient ON messages (recipient_id, read_at);
-- The event of a `system` message (JSON of `SystemEvent`; docs/messaging.md).
ALTER TABLE messages ADD COLUMN system_event TEXT;
-- Since when the patient's messages wait for the doctor, and the wait the
-- doctor's last message ended (the `responseTime` metric; SQLite's 0006).
ALTER TABLE sessions ADD COLUMN waiting_since TIMESTAMPTZ;
ALTER TABLE sessions ADD COLUMN answered_wait TIMESTAMPTZ;
-- The patient's access log, as in SQLite's 0006.
CREATE INDEX audit_access ON audit (session_id)
    WHERE action IN ('history', 'export', 'download', 'session_close', 'session_reopen', 'archive');
CREATE INDEX audit_account ON audit (target) WHERE actor = 'admin-cli';
-- The urgent-message e-mail, as in SQLite's 0006.
ALTER TABLE messages ADD COLUMN urgent_mailed_at TIMESTAMPTZ;
CREATE TABLE user_emails (
    user_id    TEXT PRIMARY KEY REFERENCES users (id),
    email      TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX messages_urgent_unmailed ON messages (created_at)
    WHERE is_urgent AND urgent_mailed_at IS NULL AND read_at IS NULL AND deleted_at IS NULL;
-- A doctor's absence, as in SQLite's 0006.
CREATE TABLE absences (
    doctor_id TEXT PRIMARY KEY REFERENCES users (id),
    id        TEXT NOT NULL,
    starts_at TIMESTAMPTZ NOT NULL,
    ends_at   TIMESTAMPTZ NOT NULL,
    note      TEXT
);
ALTER TABLE sessions ADD COLUMN absence_replied TEXT;
