-- Review of failed syncs: when one was last retried, so that a bulk replay
-- can skip what is already being retried (a second run is a no-op), and
-- the history keeps people's actions only (retried, discarded); failures
-- and resolutions are the failed sync's own fields.

ALTER TABLE failed_syncs ADD COLUMN last_retried_at timestamptz;

-- The operator tooling lists open failed syncs across tenants by reason and age.
CREATE INDEX failed_syncs_open_idx ON failed_syncs (last_failed_at) WHERE status = 'open';
