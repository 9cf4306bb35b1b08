"""Swagger UI 5 at ``/docs``, from installed files only, under a strict CSP.

The files come from the ``flask-swagger-ui`` package (its ``dist/`` folder: the
Swagger UI release its version names; only Flask, which Quart needs anyway, comes
with it). Its blueprint and template are not used: the template starts Swagger
UI with an inline script, which a CSP without ``'unsafe-inline'`` refuses, so the
page here loads its start code from ``/docs/init.js``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from quart import Quart, Response, send_from_directory
from quart_schema import hide

__all__ = ["install"]

# Found without importing the package: its __init__ imports Flask.
_SPEC = importlib.util.find_spec("flask_swagger_ui")
assert _SPEC is not None and _SPEC.submodule_search_locations, "flask-swagger-ui is missing"
SWAGGER_DIR = Path(next(iter(_SPEC.submodule_search_locations))) / "dist"

# The dashboard's policy, plus blob: images: "Try it out" shows image answers so.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}
PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>wad API</title>
<link rel="stylesheet" href="/docs/static/swagger-ui.css">
<link rel="icon" type="image/png" href="/docs/static/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
"""
# validatorUrl null: the badge would ask a public validator about the document.
INIT = """window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  validatorUrl: null,
  tryItOutEnabled: false,
});
"""


def install(app: Quart) -> None:
    @app.get("/docs")
    @hide
    async def swagger_page() -> Response:
        return Response(PAGE, content_type="text/html; charset=utf-8", headers=HEADERS)

    @app.get("/docs/init.js")
    @hide
    async def swagger_init() -> Response:
        return Response(INIT, content_type="text/javascript; charset=utf-8", headers=HEADERS)

    @app.get("/docs/static/<path:name>")
    @hide
    async def swagger_static(name: str) -> Response:
        response = await send_from_directory(SWAGGER_DIR, name)
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response
