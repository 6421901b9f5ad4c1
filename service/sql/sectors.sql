-- Which area of responsibility holds a geometry: of the live sectors holding its point on
-- surface (the boundary included), the smallest level wins (battalion, then sector, then
-- force), and between areas of one level the lowest id. The import applies the same rule to
-- the points of a file as it reads them (geo/sectors.py), taking the sectors in the order
-- civop_sector_rank gives, so the order is written here only.

-- The rank of a level in that order: smaller claims first.
CREATE OR REPLACE FUNCTION civop_sector_rank(level text) RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE level WHEN 'battalion' THEN 0 WHEN 'sector' THEN 1 ELSE 2 END
$$;

-- The smallest area of responsibility that contains the geometry.
CREATE OR REPLACE FUNCTION civop_sector_at(g geometry) RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT s.id FROM sectors s
  WHERE s.deleted_at IS NULL AND ST_Intersects(s.geom, ST_PointOnSurface(g))
  ORDER BY civop_sector_rank(s.level), s.id
  LIMIT 1
$$;
