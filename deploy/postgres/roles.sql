-- Database roles for deploy/docker-compose.yml (the `db-roles` one-shot,
-- run with psql as the superuser before every `workers migrate`).
--
--   warungin_owner     owns the database and every table; `workers migrate`
--                      and `ingest seed-demo` log in as it (MIGRATE_DATABASE_URL).
--                      Not a superuser: row-level security applies to it
--                      only where the schema says so.
--   warungin_app       the services (DATABASE_URL); owns nothing, sees rows
--                      by row-level security (migrations/20261125000007).
--   warungin_platform  the operators' `workers dlq` CLI.
--
-- The migration creates warungin_app and warungin_platform only when they are
-- missing, without a password; creating them here first, with the passwords
-- from deploy/.env, is how this deployment "gives these roles passwords"
-- (DEV_ROLE_PASSWORD is refused under APP_ENV=production). Idempotent: a
-- changed password in .env is applied by the next `docker compose up`.

\set ON_ERROR_STOP on
\getenv owner_password WARUNGIN_OWNER_PASSWORD
\getenv app_password WARUNGIN_APP_PASSWORD
\getenv platform_password WARUNGIN_PLATFORM_PASSWORD

SELECT format('CREATE ROLE %I LOGIN', r)
FROM unnest(ARRAY['warungin_owner', 'warungin_app', 'warungin_platform']) AS r
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) \gexec

-- An unset variable is not interpolated and the statement fails: no role is
-- ever left with an empty password.
ALTER ROLE warungin_owner LOGIN NOSUPERUSER PASSWORD :'owner_password';
ALTER ROLE warungin_app LOGIN NOSUPERUSER PASSWORD :'app_password';
ALTER ROLE warungin_platform LOGIN NOSUPERUSER PASSWORD :'platform_password';

-- The database (POSTGRES_DB) belongs to the owner; in PostgreSQL 15 that
-- makes it the owner of schema public too (pg_database_owner), so the
-- migrations can create tables there.
SELECT format('ALTER DATABASE %I OWNER TO warungin_owner', current_database()) \gexec
