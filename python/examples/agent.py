"""A minimal agent loop that runs R through securer.

The model is a scripted stand-in (no network): it answers each turn from a
script the way a function-calling API does, with tool calls whose
arguments are JSON, and its last answer quotes what R said.  Swap
ScriptedModel for a real client and the loop stays the same:

    python3 examples/agent.py

The tool is securer.tool_schema()'s execute_r, served in one session, so
that what one call defines the next can use, and so that an R error goes
back to the model as text it can correct.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable, Sequence

import securer

Message = dict[str, Any]


class ScriptedModel:
    """Stands in for a model: each turn is a function of the conversation
    so far that returns the assistant's message."""

    def __init__(self, turns: Sequence[Callable[[list[Message]], Message]]
                 ) -> None:
        self.turns = list(turns)
        self.calls = 0

    def respond(self, messages: list[Message],
                tools: list[dict[str, Any]]) -> Message:
        """The next assistant message (tools are what a real model would
        be offered; the script knows them already)."""
        if not any(t.get("function", {}).get("name") == "execute_r"
                   for t in tools):
            raise ValueError("the model needs the execute_r tool")
        turn = self.turns[self.calls]
        self.calls += 1
        return turn(messages)


def call_r(code: str) -> Callable[[list[Message]], Message]:
    """A turn that calls execute_r with code."""
    def turn(messages: list[Message]) -> Message:
        n = sum(1 for m in messages if m["role"] == "assistant")
        return {"role": "assistant", "content": None, "tool_calls": [{
            "id": f"call_{n}", "type": "function",
            "function": {"name": "execute_r",
                         "arguments": json.dumps({"code": code})}}]}
    return turn


def answer(messages: list[Message]) -> Message:
    """The last turn: an answer built from the last tool result."""
    last = [m for m in messages if m["role"] == "tool"][-1]["content"]
    nums = re.findall(r"-?\d+\.\d+", last)
    slope = nums[0] if nums else "?"
    return {"role": "assistant",
            "content": f"Each extra 1000 lbs of weight costs about "
                       f"{slope} miles per gallon (R says: {last!r})."}


def run_agent(question: str, model: ScriptedModel, session: securer.Session,
              max_turns: int = 8) -> tuple[str, list[Message]]:
    """Runs the loop: the model's tool calls are executed in session until
    it answers.  Returns the answer and the transcript."""
    tools = [securer.tool_schema(style="openai")]
    messages: list[Message] = [
        {"role": "system", "content": "Answer with R; the execute_r tool "
                                      "runs R code in a sandbox."},
        {"role": "user", "content": question}]
    for _ in range(max_turns):
        reply = model.respond(messages, tools)
        messages.append(reply)
        calls = reply.get("tool_calls") or []
        if not calls:
            return str(reply.get("content")), messages
        for c in calls:
            text = securer.execute_r_tool(session, c["function"]["arguments"],
                                          timeout=30)
            messages.append({"role": "tool", "tool_call_id": c["id"],
                             "content": text})
    raise RuntimeError(f"no answer after {max_turns} turns")


def scripted() -> ScriptedModel:
    """The script: look at the data, make a mistake, fix it, answer."""
    return ScriptedModel([
        call_r("str(mtcars[, c('mpg', 'wt')])"),
        call_r("fit <- lm(mpg ~ weight, data = mtcars)"),   # no such column
        call_r("fit <- lm(mpg ~ wt, data = mtcars)\n"
               "round(unname(coef(fit)['wt']), 2)"),
        answer,
    ])


def main() -> None:
    with securer.Session() as session:
        text, transcript = run_agent("How does a car's weight affect its "
                                     "fuel economy in mtcars?", scripted(),
                                     session)
    for m in transcript:
        if m["role"] == "tool":
            print(f"[tool] {m['content']}")
        elif m.get("tool_calls"):
            args = json.loads(m["tool_calls"][0]["function"]["arguments"])
            print(f"[model calls execute_r] {args['code']}")
    print(f"[model] {text}")


if __name__ == "__main__":
    main()
