"""Publishing beyond Enterprise's NDJSON: Parquet shards with a nested schema, and Hugging Face datasets."""
