"""A scripted MCP server for Logbook's tests (stdio, newline-delimited JSON-RPC): broken on purpose, or a witness.

usage: misbehaving_mcp.py crash|hang|flood|record [LOG]
  crash:  answers the handshake and tools/list, then exits in the middle of any tools/call
  hang:   answers the handshake and tools/list, then never answers tools/call
  flood:  answers tools/call with a 2 MB text result
  record: offers get_current_time and convert_time (as mcp-server-time does) and reload_tools, appends one JSON line
          per request it receives to LOG ({"method", "pid", "params"}) and answers a call with a fixed time: whatever
          Logbook's log says, LOG says what was really asked of this server, and of which process; reload_tools also
          announces a new tool list (notifications/tools/list_changed)
"""
import json
import os
import sys

mode = sys.argv[1]
TOOLS = [{"name": "poke", "description": "does nothing useful", "inputSchema": {"type": "object"}}]
if mode == "record":
    TOOLS = [
        {"name": "get_current_time", "description": "Current time in an IANA timezone.",
         "inputSchema": {"type": "object", "properties": {"timezone": {"type": "string"}}, "required": ["timezone"]}},
        {"name": "convert_time", "description": "Converts a time between timezones.",
         "inputSchema": {"type": "object", "properties": {"source_timezone": {"type": "string"}, "time": {"type": "string"},
                                                         "target_timezone": {"type": "string"}}}},
        {"name": "reload_tools", "description": "Announces that the tool list changed.", "inputSchema": {"type": "object"}},
    ]


def reply(id_, result):
    sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": id_, "result": result}) + "\n")
    sys.stdout.flush()


for line in sys.stdin:
    message = json.loads(line)
    method, id_ = message.get("method"), message.get("id")
    if mode == "record" and id_ is not None:
        with open(sys.argv[2], "a") as f:
            f.write(json.dumps({"method": method, "pid": os.getpid(), "params": message.get("params", {})}) + "\n")
    if method == "initialize":
        reply(id_, {"protocolVersion": "2025-06-18", "capabilities": {"tools": {}}, "serverInfo": {"name": mode, "version": "0"}})
    elif method == "tools/list":
        reply(id_, {"tools": TOOLS})
    elif method == "ping" and mode == "record":
        reply(id_, {})
    elif method == "tools/call":
        if mode == "crash":
            sys.stderr.write("misbehaving server: crashing on purpose\n")
            sys.stderr.flush()
            sys.exit(3)
        if mode == "flood":
            reply(id_, {"content": [{"type": "text", "text": "x" * (2 << 20)}], "isError": False})
        if mode == "record":
            if message.get("params", {}).get("name") == "reload_tools":
                sys.stdout.write(json.dumps({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}) + "\n")
            reply(id_, {"content": [{"type": "text", "text": "12:00 UTC"}], "isError": False})
        # hang: say nothing
