#!/usr/bin/env python3
"""LangGraph's figures on the shared conversation workload, for `logbook bench http --reference`.

Replays ../shared/bench/workload (a JSON file workload.py wrote) through a LangGraph StateGraph (MessagesState, a
scripted model node and a tool node) checkpointed by SqliteSaver with its default settings: each turn is one
`invoke` with the user's message; the model node answers with the workload's tool call when the turn has one, the
tool node with the workload's result, then the model node with the workload's answer. Round-robin order, as the
workload says. Run sequentially, then with THREADS Python threads (each its own SqliteSaver connection on the same
file, as a multi-threaded server would), and prints one JSON object: turns/s, bytes of the SQLite file per message,
state-load p50 (`get_state`), the versions.

usage: langgraph_reference.py WORKLOAD.json OUT.json [--threads 4]
"""

import argparse
import json
import os
import sqlite3
import statistics
import tempfile
import threading
import time
from importlib.metadata import version

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, MessagesState, StateGraph


def build(turns_by_key, checkpointer):
    """The graph: the model node replays the workload's answer for the turn the last human message opened."""

    def turn_of(state):
        human = next(m for m in reversed(state["messages"]) if isinstance(m, HumanMessage))
        return turns_by_key[human.id]

    def model(state):
        turn = turn_of(state)
        last = state["messages"][-1]
        call = turn.get("tool_call")
        if call and not isinstance(last, ToolMessage):
            return {"messages": [AIMessage(content="", tool_calls=[
                {"id": call["id"], "name": call["name"], "args": call["args"]}])]}
        return {"messages": [AIMessage(content=turn["assistant"])]}

    def tools(state):
        call = turn_of(state)["tool_call"]
        return {"messages": [ToolMessage(content=call["result"], tool_call_id=call["id"], name=call["name"])]}

    def route(state):
        last = state["messages"][-1]
        return "tools" if isinstance(last, AIMessage) and last.tool_calls else END

    graph = StateGraph(MessagesState)
    graph.add_node("model", model)
    graph.add_node("tools", tools)
    graph.add_edge(START, "model")
    graph.add_conditional_edges("model", route, ["tools", END])
    graph.add_edge("tools", "model")
    return graph.compile(checkpointer=checkpointer)


def replay(turns, path, threads):
    """Replays `turns` into the SQLite file at `path` with `threads` workers; returns the seconds it took."""
    turns_by_key = {}
    for t in turns:
        turns_by_key[f"{t['thread']}:{t['turn']}"] = t
    # Round-robin: turn k of every thread before turn k+1 of any; a thread's turns stay in order across workers by
    # giving each worker whole threads.
    by_thread = {}
    for t in turns:
        by_thread.setdefault(t["thread"], []).append(t)
    names = sorted(by_thread)
    shares = [names[i::threads] for i in range(threads)]

    def work(share):
        connection = sqlite3.connect(path, check_same_thread=False)
        app = build(turns_by_key, SqliteSaver(connection))
        rounds = max(len(by_thread[n]) for n in share) if share else 0
        for k in range(rounds):
            for name in share:
                if k < len(by_thread[name]):
                    t = by_thread[name][k]
                    app.invoke({"messages": [HumanMessage(content=t["user"], id=f"{t['thread']}:{t['turn']}")]},
                               {"configurable": {"thread_id": name}})
        connection.close()

    started = time.perf_counter()
    workers = [threading.Thread(target=work, args=(s,)) for s in shares]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return time.perf_counter() - started, names


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("workload")
    parser.add_argument("out")
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    with open(args.workload) as f:
        workload = json.load(f)
    turns = workload["turns"]
    messages = workload["stats"]["messages"]
    result = {"system": "LangGraph + SqliteSaver", "langgraph": version("langgraph"),
              "langgraph-checkpoint-sqlite": version("langgraph-checkpoint-sqlite"), "turns": len(turns),
              "messages": messages, "concurrent_threads": args.threads}
    with tempfile.TemporaryDirectory() as work:
        path = os.path.join(work, "sequential.sqlite")
        seconds, names = replay(turns, path, 1)
        result["sequential_turns_per_s"] = len(turns) / seconds
        result["bytes_per_message"] = os.path.getsize(path) / messages
        connection = sqlite3.connect(path, check_same_thread=False)
        app = build({}, SqliteSaver(connection))
        loads = []
        for name in names:
            t0 = time.perf_counter()
            app.get_state({"configurable": {"thread_id": name}})
            loads.append((time.perf_counter() - t0) * 1000)
        connection.close()
        result["state_load_p50_ms"] = statistics.median(loads)
        path = os.path.join(work, "concurrent.sqlite")
        seconds, _ = replay(turns, path, args.threads)
        result["concurrent_turns_per_s"] = len(turns) / seconds
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
