"""Reading and checking what the finance officer prepares: tables, TOML, the commune register, counts."""
