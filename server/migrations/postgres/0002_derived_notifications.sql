-- As SQLite's 0004 (docs/performance.md, "Store"): a notification is
-- derived from its message row, and the audit trail keeps only the indexes
-- a query uses.
DROP TABLE notifications;
DROP INDEX audit_actor;
DROP INDEX audit_session;
