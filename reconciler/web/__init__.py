"""The web server: metrics, health, and a read-only status page with its JSON twin."""

from reconciler.web.app import DEFAULT_HOST, StatusSource, create_app, serve

__all__ = ["DEFAULT_HOST", "StatusSource", "create_app", "serve"]
