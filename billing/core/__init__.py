"""The pure rules: money, pricing, corrections, problems. No file or database I/O here."""
