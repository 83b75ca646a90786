"""mcp-server-time over streamable HTTP, plus a `whoami` tool that returns the SHA-256 (hex) of the Authorization
header it received, so Logbook's tests can check that the caller's token is forwarded without the token itself ever
appearing in a tool result.

usage: http_mcp.py json|sse      picks a free port, prints it ("port N"), serves http://127.0.0.1:N/mcp
"""
import hashlib
import socket
import sys

from mcp.server.mcpserver import Context
from mcp_server_time.server import create_server

mode = sys.argv[1]
with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
server = create_server("UTC")


@server.tool()
def whoami(ctx: Context) -> str:
    """SHA-256 of the Authorization header of the request that called this tool ("none" without one)."""
    request = ctx.request_context.request
    header = request.headers.get("authorization") if request is not None else None
    return hashlib.sha256(header.encode()).hexdigest() if header else "none"


print(f"port {port}", flush=True)
server.run("streamable-http", host="127.0.0.1", port=port, json_response=(mode == "json"))
