"""A deliberately broken MCP server for Logbook's tests (stdio, newline-delimited JSON-RPC).

usage: misbehaving_mcp.py crash|hang|flood
  crash: answers the handshake and tools/list, then exits in the middle of any tools/call
  hang:  answers the handshake and tools/list, then never answers tools/call
  flood: answers tools/call with a 2 MB text result
"""
import json
import sys

mode = sys.argv[1]
TOOLS = [{"name": "poke", "description": "does nothing useful", "inputSchema": {"type": "object"}}]


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
    elif method == "tools/call":
        if mode == "crash":
            sys.stderr.write("misbehaving server: crashing on purpose\n")
            sys.stderr.flush()
            sys.exit(3)
        if mode == "flood":
            reply(id_, {"content": [{"type": "text", "text": "x" * (2 << 20)}], "isError": False})
        # hang: say nothing
