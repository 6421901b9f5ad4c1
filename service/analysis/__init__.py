"""Protection-of-civilians analysis over HTTP: schemas, service (SQL through the access views), views."""
