"""The store: the only place that speaks SQL (models, engine and session set-up, migrations, queries, the outbox, the audit chain)."""
