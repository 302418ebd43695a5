"""The loader of the SQL statements kept in files (``eligibility/sql/``, ``issuing/sql/``): whole, named statements
a reader can open and run in psql, with named parameters (``%(name)s``) and ``--`` comments.

A statement may nest another where ``{states}`` stands (the issuing row statements nest an item kind's eligibility
statement): the loader puts the nested statement's text and parameters there."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

NESTED = "{states}"
_PARAMETER = re.compile(r"%\((\w+)\)s")
_COMMENT = re.compile(r"--[^\n]*")  # the statements hold no string with two hyphens in it

Statement = tuple[str, list[Any]]
"""A statement to run: its text with positional placeholders (``%s``) and its parameters in order."""


@cache
def _parts(path: Path) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The statement's text without comments, cut where a nested statement goes: (text, parameter names) each."""
    text = _COMMENT.sub("", path.read_text(encoding="utf-8"))
    return tuple((_PARAMETER.sub("%s", part), tuple(_PARAMETER.findall(part))) for part in text.split(NESTED))


def statement_load(path: Path, *, states: Statement | None = None, **values: Any) -> Statement:
    """The statement of the file ``path`` without its comments, its named parameters bound in order as positional
    ones, and ``states`` (a statement) put where ``{states}`` stands: ``(sql, params)`` to run, or to nest in a
    larger statement beside other positional parameters."""
    parts = _parts(path)
    if (states is None) != (len(parts) == 1):
        raise ValueError(f"{path.name}: {NESTED} {'needs' if states is None else 'takes no'} nested statement")
    texts: list[str] = []
    params: list[Any] = []
    for index, (text, names) in enumerate(parts):
        if index and states is not None:
            texts.append(states[0])
            params += states[1]
        texts.append(text)
        params += [values[name] for name in names]
    return "".join(texts), params
