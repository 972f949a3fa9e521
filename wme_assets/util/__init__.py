"""Small helpers shared by every stage, one module per concern; they import nothing of ours but the schema."""
