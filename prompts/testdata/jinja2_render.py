#!/usr/bin/env python3
"""Reference renderer for the differential test: renders chat templates with
Jinja2 configured the way Hugging Face transformers' apply_chat_template does.

stdin: {"templates": [{"name", "path"}], "cases": [{"name", "messages", "tools",
        "add_generation_prompt", "bos_token", "eos_token", "vars"}],
        "snippets": [{"name", "source", "vars"}], "now": "ISO time"}
stdout: [{"template", "case", "ok", "output" | "error"}]
"""
import json
import sys
from datetime import datetime

try:
    import jinja2
    from jinja2 import nodes
    from jinja2.ext import Extension
    from jinja2.sandbox import ImmutableSandboxedEnvironment
except ImportError:
    print("jinja2 missing", file=sys.stderr)
    sys.exit(3)

req = json.load(sys.stdin)
now = datetime.fromisoformat(req["now"])


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    # transformers' override: no HTML escaping, non-ASCII kept.
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(fmt):
    return now.strftime(fmt)


class AssistantTracker(Extension):
    # transformers' {% generation %} tag; renders its body unchanged.
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_support"), [], [], body).set_lineno(lineno)

    def _support(self, caller):
        return caller()


env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                    extensions=[AssistantTracker, jinja2.ext.loopcontrols])
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception
env.globals["strftime_now"] = strftime_now

out = []
# Snippets: small templates with their own variables (edge-case tests).
for sn in req.get("snippets") or []:
    res = {"template": sn["name"], "case": ""}
    try:
        res.update(ok=True, output=env.from_string(sn["source"]).render(**(sn.get("vars") or {})))
    except Exception as e:  # noqa: BLE001
        res.update(ok=False, error=f"{type(e).__name__}: {e}")
    out.append(res)
for t in req.get("templates") or []:
    with open(t["path"], encoding="utf-8") as f:
        src = f.read()
    try:
        tmpl = env.from_string(src)
        compile_err = None
    except Exception as e:  # noqa: BLE001 - any failure is a result
        tmpl, compile_err = None, f"{type(e).__name__}: {e}"
    for c in req["cases"]:
        res = {"template": t["name"], "case": c["name"]}
        if compile_err:
            res.update(ok=False, error=compile_err)
        else:
            kw = dict(c.get("vars") or {})
            kw.update(messages=c["messages"], tools=c.get("tools"), documents=None,
                      add_generation_prompt=c.get("add_generation_prompt", False),
                      bos_token=c.get("bos_token", ""), eos_token=c.get("eos_token", ""))
            try:
                res.update(ok=True, output=tmpl.render(**kw))
            except Exception as e:  # noqa: BLE001
                res.update(ok=False, error=f"{type(e).__name__}: {e}")
        out.append(res)
json.dump(out, sys.stdout, ensure_ascii=False)
