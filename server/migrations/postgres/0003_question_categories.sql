-- A patient's question category (docs/messaging.md, "Question categories"):
-- one of the record's allowed actions or 'other', NULL for every other
-- message. The server sees this code only (docs/security.md).
ALTER TABLE messages ADD COLUMN category TEXT;
