"""A scripted MCP server for Logbook's tests (stdio, newline-delimited JSON-RPC): broken on purpose, or a witness.

usage: misbehaving_mcp.py crash|hang|flood|record [LOG]
  crash:  answers the handshake and tools/list, then exits in the middle of any tools/call
  hang:   answers the handshake and tools/list, then never answers tools/call
  flood:  answers tools/call with a 2 MB text result
  record: offers get_current_time and convert_time (as mcp-server-time does), appends one JSON line per tools/call it
          receives to LOG and answers it with a fixed time: whatever the log says, LOG says what was really called
"""
import json
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
    ]


def reply(id_, result):
    sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": id_, "result": result}) + "\n")
    sys.stdout.flush()


for line in sys.stdin:
    message = json.loads(line)
    method, id_ = message.get("method"), message.get("id")
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
            with open(sys.argv[2], "a") as f:
                f.write(json.dumps(message.get("params", {})) + "\n")
            reply(id_, {"content": [{"type": "text", "text": "12:00 UTC"}], "isError": False})
        # hang: say nothing
