"""Test-wide fixtures. The database is the embedded PostgreSQL (pgvector), a test database on it."""
