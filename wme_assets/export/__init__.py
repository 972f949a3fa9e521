"""Export: snapshot archives and chunks in Wikimedia Enterprise's format, their manifests, and publishing."""
