"""The client side of client mode: the one seam to the HTTP API (httpx), and the saved login."""
