"""Publishing beyond the Enterprise API: dumps-site layout, Parquet with a nested schema, Hugging Face datasets."""
