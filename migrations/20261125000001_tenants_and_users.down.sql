-- Reverses 20261125000001_tenants_and_users.up.sql.
--
-- DATA LOSS: every shop, user and refresh token. Only ever run on a database
-- you are about to rebuild, after scripts/backup.

DROP TABLE refresh_tokens;  -- with refresh_tokens_family_idx, refresh_tokens_user_idx
DROP TABLE users;           -- with users_email_key
DROP TABLE tenants;
