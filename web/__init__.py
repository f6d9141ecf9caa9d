"""The shared web layer: configuration, extensions and request plumbing both blueprints use."""
