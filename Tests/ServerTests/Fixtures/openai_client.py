"""Drives Logbook's OpenAI-compatible endpoint with the official `openai` package, as an application would.

Usage: openai_client.py PORT TOKEN. Prints one JSON object with what the SDK saw; exits non-zero on any SDK error.
"""
import json
import sys

from openai import OpenAI

port, token = sys.argv[1], sys.argv[2]
client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=token, max_retries=0, timeout=30)
out = {}

out["models"] = [m.id for m in client.models.list().data]

tools = [{"type": "function", "function": {
    "name": "get_time", "description": "The current time in a time zone",
    "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}, "required": ["zone"]}}}]
messages = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "What time is it in Tokyo?"}]

# 1. Non-streaming; the model asks for the client's tool.
raw = client.chat.completions.with_raw_response.create(model="scripted", messages=messages, tools=tools)
first = raw.parse()
thread = raw.headers.get("x-logbook-thread")
call = first.choices[0].message.tool_calls[0]
out["thread"] = thread
out["first"] = {"finish": first.choices[0].finish_reason, "tool": call.function.name, "arguments": call.function.arguments,
                "call_id": call.id, "prompt_tokens": first.usage.prompt_tokens}

# 2. Streaming, on the same thread, with the tool's result.
messages.append({"role": "assistant", "content": None, "tool_calls": [
    {"id": call.id, "type": "function", "function": {"name": call.function.name, "arguments": call.function.arguments}}]})
messages.append({"role": "tool", "tool_call_id": call.id, "content": "12:00 JST"})
text, finish, usage = "", None, None
stream = client.chat.completions.create(model="scripted", messages=messages, tools=tools, stream=True,
                                        stream_options={"include_usage": True}, extra_headers={"X-Logbook-Thread": thread})
for chunk in stream:
    if chunk.usage:
        usage = chunk.usage.completion_tokens
    for choice in chunk.choices:
        text += choice.delta.content or ""
        finish = choice.finish_reason or finish
out["second"] = {"text": text, "finish": finish, "completion_tokens": usage}

# 3. An unknown model is the SDK's NotFoundError-or-APIStatusError, with our message.
try:
    client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
    out["unknown_model"] = "accepted"
except Exception as e:  # noqa: BLE001 — the class is what we report
    out["unknown_model"] = f"{type(e).__name__}: {getattr(e, 'status_code', '')}"

print(json.dumps(out))
