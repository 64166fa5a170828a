"""The execute_r tool for function calling, and python/examples/agent.py
run against a daemon with its scripted stand-in model."""

from __future__ import annotations

import json
import runpy
import subprocess
import sys
from typing import Any

import pytest

import securer

from conftest import TOP


def test_schema_styles() -> None:
    plain = securer.tool_schema()
    assert plain["name"] == "execute_r" and "sandbox" in plain["description"]
    params = plain["parameters"]
    assert params == {
        "type": "object",
        "properties": {"code": {"type": "string",
                                "description": params["properties"]["code"][
                                    "description"]}},
        "required": ["code"], "additionalProperties": False}
    o = securer.tool_schema("run_r", "Run R.", style="openai")
    assert o == {"type": "function", "function": {
        "name": "run_r", "description": "Run R.", "parameters": params}}
    a = securer.tool_schema(style="anthropic")
    assert a["input_schema"] == params and "parameters" not in a
    with pytest.raises(ValueError):
        securer.tool_schema(style="other")
    json.dumps(o)   # it is JSON


def test_execute_r_tool(session: securer.Session) -> None:
    t = securer.execute_r_tool
    assert t(session, json.dumps({"code": "cat('hi\\n'); 1:3"})) == \
        "hi\n[1] 1 2 3"
    assert t(session, {"code": "x <- 5"}) == \
        "(no output; the value is invisible)"
    assert t(session, {"code": "x * 2"}) == "[1] 10"
    assert t(session, {"code": "warning('careful'); 1"}) == \
        "Warning: careful\n[1] 1"
    assert t(session, {"code": "f <- function() stop('nope'); f()"}) == \
        "Error in f() (r_error): nope"
    assert t(session, {"code": "1 +"}).startswith("Error (parse_error): ")
    assert t(session, {"code": "plot(1); 2"}) == \
        "[1] 2\n[1 plot(s) drawn: plot-001.png]"
    assert t(session, "not json") == "Error: the arguments are not JSON"
    assert t(session, {"cod": "1"}).startswith("Error: the call needs")
    assert t(session, {"code": "Sys.sleep(3)"}, timeout=0.3).startswith(
        "Error (timeout): ")
    long = t(session, {"code": "for (i in 1:200) cat(i, '\\n')"})
    assert "more lines" in long and long.count("\n") < 110


def test_agent_example(sock: str) -> None:
    ns = runpy.run_path(str(TOP / "python" / "examples" / "agent.py"))
    with securer.Session() as s:
        text, transcript = ns["run_agent"]("mpg and weight?", ns["scripted"](),
                                           s)
    tools = [m["content"] for m in transcript if m["role"] == "tool"]
    assert len(tools) == 3
    assert "32 obs. of  2 variables" in tools[0]
    assert tools[1] == "Error in eval(predvars, data, env) (r_error): " \
        "object 'weight' not found"
    assert tools[2] == "[1] -5.34"
    assert text.startswith("Each extra 1000 lbs of weight costs about -5.34")
    # The loop's messages are what a function-calling API takes.
    calls = [m for m in transcript if m.get("tool_calls")]
    for c in calls:
        args = json.loads(c["tool_calls"][0]["function"]["arguments"])
        assert set(args) == {"code"}


def test_agent_example_runs(sock: str) -> None:
    env: dict[str, Any] = {"PYTHONPATH": str(TOP / "python"),
                           "SECURER_SOCKET": sock, "PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, str(TOP / "python" / "examples" /
                                            "agent.py")],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1].startswith("[model] Each extra 1000 lbs")
    assert "[tool] [1] -5.34" in r.stdout


def readme_block(path: str, start: str) -> str:
    """The first indented block of Python after the line start."""
    lines = (TOP / path).read_text().split("\n")
    i = next(k for k, ln in enumerate(lines) if ln.startswith(start))
    i = next(k for k in range(i, len(lines))
             if lines[k].strip() == "import securer")
    block = []
    for ln in lines[i:]:
        if ln and not ln.startswith("    "):
            break
        block.append(ln[4:])
    return "\n".join(block).strip() + "\n"


@pytest.mark.parametrize("path,start", [("README.md", "## Python"),
                                        ("python/README.md", "# securer")])
def test_readme_examples(sock: str, path: str, start: str) -> None:
    """The READMEs' Python examples run and print what their comments
    say they print."""
    code = readme_block(path, start)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True,
                       text=True, timeout=120,
                       env={"PYTHONPATH": str(TOP / "python"),
                            "SECURER_SOCKET": sock, "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    want = []
    for ln in code.split("\n"):
        if "print(" in ln and "#" in ln:
            want.append(ln.split("#", 1)[1].strip())
    got = r.stdout.split("\n")
    assert len(want) >= 1
    for w in want:
        w = w.replace("...", "").strip()
        assert any(g.startswith(w) or w in g for g in got), (w, got)
