"""Use cases over a Session: cases, users, escalations, visits, digest, payments, sampling,
look-back, imports."""
