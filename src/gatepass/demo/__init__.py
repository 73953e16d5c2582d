"""The guide's demo API, protected by Gatepass: five operations, one scope each.

``create_demo_api(issuer, resource)`` builds it as a FastAPI app for any Gatepass issuer (keys
from the issuer's JWKS); ``gatepass serve`` mounts it at ``/api`` in the server's own process
(``gatepass.demo.embedded``; setting ``demo_api``). Needs the ``[server]`` extra (FastAPI).
See ``examples/demo_api/README.md``.
"""

from gatepass.demo.app import DEMO_IMPLICATIONS, DemoParts, create_demo_api, demo_parts
from gatepass.demo.data import WEBHOOK_EVENTS, DemoData
from gatepass.demo.routes import ROUTE_SCOPES

__all__ = [
    "DEMO_IMPLICATIONS",
    "ROUTE_SCOPES",
    "WEBHOOK_EVENTS",
    "DemoData",
    "DemoParts",
    "create_demo_api",
    "demo_parts",
]
