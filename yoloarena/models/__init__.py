"""Model families. Each family package registers its models on import."""
