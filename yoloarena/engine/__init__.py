"""Family-agnostic engines: prediction (and later training and validation)."""
