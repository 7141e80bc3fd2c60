-- A user's private data, sealed on their device for themselves alone
-- (docs/messaging.md, "Reply templates"): the server cannot open it.
CREATE TABLE private_data (
    user_id    TEXT NOT NULL REFERENCES users (id),
    kind       TEXT NOT NULL,
    sealed     TEXT NOT NULL,
    version    INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, kind)
) STRICT, WITHOUT ROWID;

-- A doctor's weekly office hours (docs/messaging.md, "Office hours"), as
-- the JSON of dmp_protocol::OfficeHours.
CREATE TABLE office_hours (
    doctor_id TEXT PRIMARY KEY REFERENCES users (id),
    hours     TEXT NOT NULL
) STRICT;
