"""Long log lines of the provider's own messages, wrapped to stay readable in Airflow's log view."""

from __future__ import annotations

import textwrap

__all__ = ["WRAP", "wrap"]

#: Width at which the provider's own long log lines are wrapped.
WRAP = 100


def wrap(text: str, width: int = WRAP) -> str:
    """``text`` as lines of at most ``width`` characters (words are never split), continuation
    lines indented, so one log record stays one readable block."""
    return "\n".join(
        textwrap.wrap(
            text, width=width, subsequent_indent="    ", break_on_hyphens=False, break_long_words=False
        )
    )
