"""``POST /api/cluster/control``: the owner's side of the control relay
(:mod:`wad.control.relay`), on a node of a cluster only, left out of the API's
documentation: no client calls it, only another node's control socket.

Refused (403) unless both proofs hold: the request was forwarded by a node
(``X-Wad-Cluster``, checked by :class:`wad.http.peers.FromNodes` before anything)
and its body carries that node's MAC (``X-Wad-Control``). The body is one control
line, parsed as the control socket parses one (the same limits and refusals), and
run with this node's own method table: what it answers goes back as it is."""

from __future__ import annotations

import time

from quart import Blueprint, Response, current_app, request
from quart_schema import hide

from wad.cluster import peers
from wad.control import methods as method_table
from wad.control.protocol import Method, dispatch, parse_line
from wad.control.relay import BODY_HEADER, PATH
from wad.engines.wire import MAX_LINE
from wad.errors import WadError
from wad.http.context import daemon as current_daemon
from wad.http.peers import forwarded_by

bp = Blueprint("cluster_control", __name__)


@bp.post(PATH)
@hide
async def control() -> Response:
    daemon = current_daemon()
    secret = daemon.config.cluster_secret
    if forwarded_by(request.scope) is None or not secret:
        raise WadError("forbidden", "Only a node of this cluster may call this")
    length = request.content_length
    if length is None or length > MAX_LINE + 1:
        raise WadError("too_large", f"A control line is at most {MAX_LINE} bytes")
    body = await request.get_data(cache=False, as_text=False, parse_form_data=False)
    if not peers.verify_body(secret, request.headers.get(BODY_HEADER, ""), body, time.time()):
        raise WadError("forbidden", f"Invalid {BODY_HEADER} header")
    parsed = parse_line(body.rstrip(b"\n"))
    if isinstance(parsed, bytes):
        line = parsed
    else:
        # Built at the first call: the table the control socket serves, unrelayed.
        table: dict[str, Method] | None = current_app.config.get("WAD_CONTROL_METHODS")
        if table is None:
            table = current_app.config["WAD_CONTROL_METHODS"] = method_table.build(daemon)
        line = await dispatch(table, parsed)
    return Response(line, status=200, content_type="application/json")
