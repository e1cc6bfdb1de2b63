"""User-supplied strings as plain text for plotly.

plotly.js reads every string it draws (titles, axis tick labels, legend names, hover labels, cell
text, annotations, menu labels, colour bar titles) as pseudo-HTML: ``<a href>`` becomes a live
link, a ``style`` attribute reaches the SVG (so a ``url(...)`` in it is fetched when the figure is
drawn), ``<b>``, ``<i>``, ``<sup>``, ``<span>`` and friends change the text, ``&lt;``-style
entities are decoded, and where the page has MathJax, ``$...$`` is typeset. A layer or checkpoint
name must do none of that. Every figure builder in :mod:`tda_interp.plotting` passes each string
that comes from its caller through :func:`plain_text`, and only through it.
"""

from __future__ import annotations

import re

__all__ = ["plain_text"]

# "&" first in meaning: plotly decodes entities only in text, after splitting off tags, so an
# escaped "<" can never form a tag; "$" is written as a numeric entity so that no string has the
# two dollars MathJax needs.
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "$": "&#36;", "\r\n": "<br>", "\r": "<br>",
            "\n": "<br>"}  # fmt: skip
_SPECIAL = re.compile(r"[&<>$]|\r\n?|\n")


def plain_text(text: object) -> str:
    """``text`` as a plotly string that is shown exactly as written.

    ``&``, ``<``, ``>`` and ``$`` become entities that plotly.js decodes back for display, so
    nothing in ``text`` is read as a tag, an entity or TeX; a line break (``\\n``, ``\\r\\n`` or
    ``\\r``) becomes ``<br>``, the one piece of markup a plain string can ask for. Apply it
    exactly once, where a string from the caller enters a figure.

    Parameters
    ----------
    text : object
        A name, label or title; not a string is converted with ``str``.

    Returns
    -------
    str
        The string to give plotly (``title.text``, ``ticktext``, trace ``name``, ``text``,
        ``customdata`` shown by a hover template, ...). Never a template: ``%{...}`` in
        ``text`` is left as it is, so it must not go into a ``hovertemplate``.

    Examples
    --------
    >>> plain_text('<a href="http://x">fc & relu</a>')
    '&lt;a href="http://x"&gt;fc &amp; relu&lt;/a&gt;'
    >>> plain_text("relative\\nlifetime")
    'relative<br>lifetime'
    """
    return _SPECIAL.sub(lambda m: _ESCAPES[m.group(0)], str(text))
