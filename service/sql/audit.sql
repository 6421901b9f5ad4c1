-- The audit rows a write of a table leaves, defined once. The statement triggers (civop_audit)
-- run the statement civop_audit_statement writes from their transition tables; the service
-- (service/audit/trail.py) runs the same statement from its own write when the table has no
-- triggers (as under Citus, docs/scaling.md).

-- A row of the table as the audit log keeps it, as SQL over the row called alias: every column
-- by name, geometries as GeoJSON objects, secrets never. (PostgreSQL functions take at most 100
-- arguments: 50 columns per object, merged.)
CREATE OR REPLACE FUNCTION civop_audit_json(rel oid, alias text) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT string_agg('jsonb_build_object(' || pairs || ')', ' || ' ORDER BY part)
  FROM (
    SELECT (n - 1) / 50 AS part, string_agg(pair, ', ' ORDER BY n) AS pairs
    FROM (
      SELECT row_number() OVER (ORDER BY a.attnum) AS n,
             CASE WHEN a.atttypid = 'geometry'::regtype
                  THEN format('%L, ST_AsGeoJSON(%s.%I)::jsonb', a.attname, alias, a.attname)
                  ELSE format('%L, %s.%I', a.attname, alias, a.attname) END AS pair
      FROM pg_attribute a
      WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
        AND a.attname NOT IN ('password_hash', 'key_hash')
    ) columns
    GROUP BY 1
  ) parts
$$;

-- The statement that writes the audit rows of one statement's changes of the table rel,
-- recorded under the name collection:
--   rows     the rows changed (SQL after FROM), naming each record after the change n and
--            before it o (has_before, has_after: whether rows names them: a creation has no
--            o, a purge no n);
--   created  whether a row was created (SQL, true for a creation, false for a change);
--   creations how many rows the statement created (SQL).
-- One row per record, in the records' order (the changes, then the creations): 'create' with
-- the record, 'update' or 'delete' (its deleted_at set) with the record before and after,
-- 'purge' with the record removed. A statement creating more than 1,000 records writes lean
-- rows, without the values (an import's file and job keep them); in an import
-- (civop.context 'import:<job>') one row for them all, whose record_ids lists them.
CREATE OR REPLACE FUNCTION civop_audit_statement(
  rel oid, collection text, rows text, created text, creations text,
  has_before boolean, has_after boolean
) RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
  record text := CASE WHEN has_after THEN 'n' ELSE 'o' END;
  soft boolean := EXISTS (SELECT 1 FROM pg_attribute
                          WHERE attrelid = rel AND attname = 'deleted_at' AND NOT attisdropped);
  lean text := format('(%s) AND (%s) > 1000', created, creations);
  bulk text := format('(%s) AND coalesce(current_setting(%L, true), %L) LIKE %L',
                      lean, 'civop.context', '', 'import:%');
  action text;
  before_json text := 'NULL::jsonb';
  after_json text := 'NULL::jsonb';
BEGIN
  IF NOT has_after THEN
    action := quote_literal('purge');
    before_json := civop_audit_json(rel, 'o');
    bulk := 'false';
  ELSE
    action := format('CASE WHEN %s THEN %L ', created, 'create')
      || CASE WHEN soft AND has_before
              THEN format('WHEN o.deleted_at IS NULL AND n.deleted_at IS NOT NULL '
                          'THEN %L ', 'delete')
              ELSE '' END
      || format('ELSE %L END', 'update');
    IF has_before THEN
      before_json := format('CASE WHEN (%s) OR o.id IS NULL THEN NULL ELSE %s END',
                            created, civop_audit_json(rel, 'o'));
    END IF;
    after_json := format('CASE WHEN %s THEN NULL ELSE %s END',
                         lean, civop_audit_json(rel, 'n'));
  END IF;
  -- An import's bulk row lists its ids in the order they were written: sorting a million
  -- ids cost more than the rest of the row.
  RETURN format(
    'INSERT INTO audit_log (action, collection, record_id, before, after, record_ids) '
    'SELECT * FROM (SELECT %1$s, %2$L, %3$s.id, %4$s, %5$s, NULL::uuid[] FROM %6$s '
    'WHERE NOT (%7$s) ORDER BY (%8$s)::int, %3$s.id) per_record '
    'UNION ALL SELECT %9$L, %2$L, NULL, NULL, NULL, array_agg(%3$s.id) '
    'FROM %6$s WHERE %7$s HAVING count(*) > 0',
    action, collection, record, before_json, after_json, rows, bulk, created, 'create');
END $$;

-- The statement trigger of every audited table, from its transition tables.
CREATE OR REPLACE FUNCTION civop_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    EXECUTE civop_audit_statement(TG_RELID, civop_table_of(TG_TABLE_NAME), 'new_rows n',
                                  'true', '(SELECT count(*) FROM new_rows)', false, true);
  ELSIF TG_OP = 'UPDATE' THEN
    EXECUTE civop_audit_statement(TG_RELID, civop_table_of(TG_TABLE_NAME),
                                  'old_rows o JOIN new_rows n ON n.id = o.id',
                                  'false', '0', true, true);
  ELSE
    EXECUTE civop_audit_statement(TG_RELID, civop_table_of(TG_TABLE_NAME), 'old_rows o',
                                  'false', '0', true, false);
  END IF;
  RETURN NULL;
END $$;
