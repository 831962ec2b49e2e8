"""A griffe extension for the API reference: roleredis's docstrings are written for ``help()``
and doctest (reST-style ``literals`` and bare ``>>>`` examples); this shows them as Markdown
would: ``x`` as `x`, :func:`x` as `x`, and each run of ``>>>`` lines with its output as a
fenced ``pycon`` block, so that Markdown does not read ``["value"]`` as a link.

No published extension does this (the docstrings are neither Google nor NumPy style, and the
doctests run as they are, so they stay as they are)."""

from __future__ import annotations

import re
from typing import Any

from griffe import Extension, Object

ROLE = re.compile(r":(?:func|class|meth|mod|attr|data|exc|obj):`~?([^`]+)`")
LITERAL = re.compile(r"``(.+?)``")


def markdown(text: str) -> str:
    out: list[str] = []
    in_example = False
    for line in text.splitlines():
        starts = line.lstrip().startswith(">>>")
        if starts and not in_example:
            out.append("```pycon")
            in_example = True
        elif in_example and not line.strip():
            out.append("```")
            in_example = False
        out.append(line if in_example else LITERAL.sub(r"`\1`", ROLE.sub(r"`\1`", line)))
    if in_example:
        out.append("```")
    return "\n".join(out)


class DocstringsAsMarkdown(Extension):
    def on_object(self, *, obj: Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown(obj.docstring.value)
