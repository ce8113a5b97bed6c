"""Integrations with other frameworks, each behind its extra; import the submodule you need:

- `asyncapi_client.integrations.fastapi` (extra `fastapi`): a lifespan that owns one shared
  client, route dependencies, per-user views.
- `asyncapi_client.integrations.otel` (extra `otel`): OpenTelemetry spans per call and attempt.

This package imports nothing itself, so `import asyncapi_client` never pulls these frameworks in.
"""
