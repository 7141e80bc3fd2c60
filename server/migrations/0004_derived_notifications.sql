-- Fewer B-tree changes per message (docs/performance.md, "Store"):
-- a notification is derived from its message row (a message to the user,
-- neither read nor deleted), no longer stored as a row of its own with three
-- indexes; and the audit trail keeps only the indexes a query uses (its
-- queries filter on actor and session with `?n IS NULL OR ...`, which no
-- index serves: they scan in id order).
DROP TABLE notifications;
DROP INDEX audit_actor;
DROP INDEX audit_session;
