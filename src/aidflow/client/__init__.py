"""The client side of client mode: the one seam to the HTTP API (httpx), and the saved login.

`aidflow.client.api` sends operations to the server and turns its error answers back into
the matching AidflowError; `aidflow.client.credentials` keeps the login `aidflow login` saved.
Nothing here imports SQLAlchemy, the services or pydantic: a command in client mode loads
click, httpx and these modules only.
"""
