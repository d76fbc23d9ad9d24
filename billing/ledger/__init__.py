"""The DuckDB ledger of issued titres: numbering, hash chain, verify. Imports only the core."""
