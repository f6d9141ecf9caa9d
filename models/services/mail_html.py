"""HTML of synced mail made safe to show to staff.

`nh3` (the Rust sanitiser ammonia) keeps an allow-list of tags and attributes: scripts,
styles, event handlers, forms, iframes and `javascript:` links are gone. Remote images
would tell the sender when and where staff read the mail, so every <img src> is moved to
`data-remote-src`: nothing is loaded until staff click "Load remote images", which shows
the message on a page of its own whose CSP allows images (`with_remote_images`). The
admin pages' own CSP stays as it is.
"""

from __future__ import annotations

import re

import nh3

_ATTRIBUTES = {**nh3.ALLOWED_ATTRIBUTES, "img": {"src", "alt", "width", "height", "title"}}
# nh3's output quotes every attribute with " and escapes " inside it, so these are exact.
_IMG_SRC = re.compile(r'(<img\b[^>]*?)\ssrc="([^"]*)"')
_REMOTE = re.compile(r'(<img\b[^>]*?)\sdata-remote-src="([^"]*)"')


def sanitise(html: str) -> str:
    clean = nh3.clean(html, tags=nh3.ALLOWED_TAGS, attributes=_ATTRIBUTES,
                      url_schemes={"http", "https", "mailto", "tel", "data"}, strip_comments=True)
    return _IMG_SRC.sub(r'\1 data-remote-src="\2"', clean)


def remote_images(html: str) -> int:
    return len(_REMOTE.findall(html or ""))


def with_remote_images(html: str) -> str:
    """The stored (sanitised) HTML with its images' sources back, for the page that loads them."""
    return _REMOTE.sub(r'\1 src="\2"', html or "")
