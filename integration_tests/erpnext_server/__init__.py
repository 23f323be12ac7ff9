"""A faithful-enough ERPNext/Frappe REST API test server (stdlib only: sqlite3 + http.server)."""
from .app import API_KEY, API_SECRET, LIMITED_API_KEY, LIMITED_API_SECRET, ErpnextTestServer

__all__ = ["ErpnextTestServer", "API_KEY", "API_SECRET", "LIMITED_API_KEY", "LIMITED_API_SECRET"]
