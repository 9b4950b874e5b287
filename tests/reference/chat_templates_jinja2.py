#!/usr/bin/python3
"""Second reference for the chat templates: Debian's python3-jinja2, the Jinja that transformers
itself renders with, in apply_chat_template's configuration (transformers'
utils/chat_template_utils.py): an ImmutableSandboxedEnvironment with trim_blocks and
lstrip_blocks, the loopcontrols extension, a {% generation %} block tag, tojson that keeps
non-ASCII characters, and the raise_exception / strftime_now globals.

    /usr/bin/python3 tests/reference/chat_templates_jinja2.py \
        tests/reference/chat_templates.json tests/reference/chat_templates_jinja2.json

Reads the templates and conversations of chat_templates.json (made by
tests/node/chat_template_reference.mjs with @huggingface/jinja) and writes, for every template x
conversation x add_generation_prompt, {"output": text} or {"error": message}, in the same order.
"""
import json
import sys
from datetime import datetime

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment


class GenerationTag(Extension):
    """transformers' AssistantTracker without the span bookkeeping: the body renders as is."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_render", []), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                      sort_keys=sort_keys)


def strftime_now(fmt):
    return datetime.now().strftime(fmt)


def environment():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[GenerationTag, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def main(src, dst):
    ref = json.load(open(src, encoding="utf-8"))
    env = environment()
    out = {"source": "python3-jinja2 %s via tests/reference/chat_templates_jinja2.py" %
                     jinja2.__version__, "renders": {}}
    for name, t in ref["templates"].items():
        tpl = env.from_string(t["template"])
        renders = out["renders"][name] = []
        for conv in ref["conversations"]:
            for gen in (False, True):
                ctx = {"messages": conv["messages"], "tools": conv.get("tools"),
                       "add_generation_prompt": gen, "bos_token": t["bos_token"],
                       "eos_token": t["eos_token"]}
                if "enable_thinking" in conv:
                    ctx["enable_thinking"] = conv["enable_thinking"]
                try:
                    renders.append({"output": tpl.render(**ctx)})
                except Exception as e:  # noqa: BLE001 - the message is the reference
                    renders.append({"error": "%s: %s" % (type(e).__name__, e)})
    with open(dst, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
