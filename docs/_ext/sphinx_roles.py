"""Griffe extension for the API reference: Sphinx cross-reference roles in docstrings become Markdown.

The docstrings use reST roles (``:func:`~har_vib.utils.io.file_identity```, ``:class:`SequenceClassifier```),
which mkdocstrings would print literally. A role naming a fully qualified ``har_vib`` object becomes an autorefs
link (``[`file_identity`][har_vib.utils.io.file_identity]``, the ``~`` keeping only the last name, as Sphinx
does); any other target becomes inline code. Configured in ``mkdocs.yml`` under the python handler's
``extensions``.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:func|class|mod|meth|attr|data|exc|obj):`(~?)([\w.]+)`")


def markdown_roles(text: str) -> str:
    """``text`` with every Sphinx role replaced by an autorefs link (har_vib targets) or inline code."""

    def replace(match: re.Match) -> str:
        short, target = match.group(1) == "~", match.group(2)
        label = target.rsplit(".", 1)[-1] if short else target
        if target.startswith("har_vib."):
            return f"[`{label}`][{target}]"
        return f"`{label}`"

    return ROLE.sub(replace, text)


class SphinxRoles(griffe.Extension):
    """Rewrite the docstring of every loaded object once it is built."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown_roles(obj.docstring.value)
