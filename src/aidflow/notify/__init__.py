"""Notifications: the templates, rendering with Jinja2, and the channels (email, in memory)."""
