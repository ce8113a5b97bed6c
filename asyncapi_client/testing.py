"""pytest plugin (placeholder until the sandbox issue lands its fixtures)."""
