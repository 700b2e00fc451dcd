"""Notifications: templates rendered with Jinja2, and the channels that deliver them (email, in memory)."""
