"""mcp-server-time's tools over streamable HTTP (a FastMCP server from the `mcp` package), plus a `whoami` tool that
returns the SHA-256 (hex) of the Authorization header it received, so Logbook's tests can check that the caller's
token is forwarded without the token itself ever appearing in a tool result.

usage: http_mcp.py json|sse [PORT]   serves http://127.0.0.1:PORT/mcp (PORT: a free one by default), printing "port PORT"
"""
import hashlib
import socket
import sys

from mcp.server.fastmcp import Context, FastMCP
from mcp_server_time.server import TimeServer

mode = sys.argv[1]
if len(sys.argv) > 2:
    port = int(sys.argv[2])
else:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
server = FastMCP("time", host="127.0.0.1", port=port, json_response=(mode == "json"))
time = TimeServer()


@server.tool()
def get_current_time(timezone: str) -> str:
    """Current time in an IANA timezone (e.g. 'Europe/Warsaw')."""
    return time.get_current_time(timezone).model_dump_json(indent=2)


@server.tool()
def convert_time(source_timezone: str, time_str: str, target_timezone: str) -> str:
    """Converts a time (HH:MM, 24-hour) from one IANA timezone to another."""
    return time.convert_time(source_timezone, time_str, target_timezone).model_dump_json(indent=2)


@server.tool()
def whoami(ctx: Context) -> str:
    """SHA-256 of the Authorization header of the request that called this tool ("none" without one)."""
    request = ctx.request_context.request
    header = request.headers.get("authorization") if request is not None else None
    return hashlib.sha256(header.encode()).hexdigest() if header else "none"


print(f"port {port}", flush=True)
server.run("streamable-http")
