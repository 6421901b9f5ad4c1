"""Jobs: heavy work (large exports, reports, imports, rollbacks, scheduled alert rules, large
analyses) queued in PostgreSQL with Procrastinate and run by ``civop worker`` processes."""
