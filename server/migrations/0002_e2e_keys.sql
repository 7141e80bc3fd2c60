-- End-to-end encryption: public keys, encrypted key backups, and the
-- zero-knowledge login parameters of each user.
ALTER TABLE users ADD COLUMN kdf_salt TEXT;
ALTER TABLE users ADD COLUMN kdf_params TEXT;
ALTER TABLE users ADD COLUMN public_keys TEXT;
ALTER TABLE users ADD COLUMN key_backup TEXT;
ALTER TABLE users ADD COLUMN keys_updated_at INTEGER;
