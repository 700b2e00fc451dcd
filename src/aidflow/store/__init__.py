"""The store: the only package that speaks SQL.

Models, engine and session set-up (database), migrations, the fast path, typed records,
one module per kind of row (cases, events, votes, persons, users, workflows), the area
rule as SQL (scope) and the audit chain.
"""
