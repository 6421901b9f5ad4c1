-- civop on Citus: the set-up checked with Citus 13.2.2 and PostGIS 3.3 on PostgreSQL 15
-- (docs/scaling.md, "Checked on Citus"). Run with psql on the coordinator, in the civop
-- database, after `civop db upgrade`, with the workers added (citus_add_node) and the citus
-- and postgis extensions created on every node:
--
--   psql "$DATABASE_URL" -f docs/citus.sql
\set ON_ERROR_STOP 1
-- The row triggers that stamp records and assign sectors run on the shards; they read only
-- reference tables.
SET citus.enable_unsafe_triggers = on;

-- 1. The statement triggers that write the audit trail, the change events, the layer
--    versions and the status histories of every collection
--    (service.audit.trail.DROP_STATEMENT_TRIGGERS): Citus runs none of them, and the service
--    writes the same records itself when they are gone.
SELECT format('DROP TRIGGER %I ON %s;', t.tgname, t.tgrelid::regclass)
FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
WHERE t.tgrelid::regclass::text IN ('sectors', 'actors', 'idp_sites', 'projects', 'incidents',
                                     'patrols', 'bases', 'assistance_requests')
  AND p.proname IN ('civop_audit', 'civop_record_events', 'civop_bump_layer',
                    'civop_project_status_history', 'civop_request_recorded')
ORDER BY 1 \gexec

-- 2. Keys: no table has a unique constraint on (origin, external_id) since migration
--    a19b02c0d0e2; the service keeps keys unique among what each writer sees in full, with
--    advisory locks on the coordinator, and the index on the key serves its look-ups
--    (docs/scaling.md, point 2). Nothing to do here.

-- 3. Reference tables (a copy on every worker), referenced ones first.
SELECT create_reference_table('sectors');
SELECT create_reference_table('actors');
SELECT create_reference_table('idp_sites');
SELECT create_reference_table('bases');

-- 4. The big tables, spread over the workers by id.
SELECT create_distributed_table('incidents', 'id');
SELECT create_distributed_table('patrols', 'id', colocate_with => 'incidents');

-- Every other table stays on the coordinator; Citus adds those with foreign keys to the
-- reference tables to its metadata by itself.
