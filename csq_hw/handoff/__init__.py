"""The hand-off file precisions.json: its schema, validator, typed view and writer (docs/precisions_v1.md)."""
