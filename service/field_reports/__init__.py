"""Field reports: incidents sent by KoboToolbox and ODK Central forms, their verification and
their likely duplicates (docs/field-reports.md)."""
