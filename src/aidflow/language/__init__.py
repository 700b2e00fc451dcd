"""The workflow language: strict YAML, the workflow model, the loader and its checks,
expressions, the working-day calendar."""
