"""The check after the scan: render with cmark-gfm, GitHub's own Markdown parser, and read the HTML.

shared/github/harmless.py rewrites Markdown with a scanner, and a scanner is not the parser. So
what it gives is rendered as GitHub renders it (the `cmarkgfm` package) and the HTML is read: a
text outside <code>/<pre> with a pinging mention, or any URL attribute outside GitHub's host,
means the scanner misread something. `allowed_url` is the one rule of which URLs stay on
GitHub's host, for the scanner and for this check alike. cmarkgfm costs about 2 ms to import
and 1.4 MB installed; its only dependency, cffi, already comes with PyGithub's cryptography.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

# attributes that make a browser (or GitHub's image proxy) fetch or link a URL
URL_ATTRIBUTES = frozenset(
    {
        "href",
        "src",
        "srcset",
        "poster",
        "background",
        "action",
        "formaction",
        "data",
        "cite",
        "longdesc",
        "xlink:href",
        "usemap",
        "codebase",
        "lowsrc",
        "dynsrc",
        "manifest",
        "ping",
        "icon",
        "profile",
        "archive",
        "classid",
    }
)
# GitHub's mention rule, made stricter: an @ after anything but an ASCII word character, then a
# letter or digit of any script (GitHub's is ASCII, case-insensitive)
_PINGING = re.compile(r"(?:^|[^A-Za-z0-9_])@[^\W_]")


def allowed_url(url: str, host: str) -> bool:
    """True for a URL that stays on `host`: relative, an anchor, http(s) to `host`, or a mail address."""
    value = re.sub(r"[\t\n\r]", "", url).strip(
        "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x10\x11\x12"
        "\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f "
    )
    lowered = value.lower()
    scheme = re.match(r"^([a-z][a-z0-9+.\-]*):", lowered)
    if scheme:
        if scheme.group(1) == "mailto":
            return not re.search(r"[?&]", value)  # an address, no prefilled body
        if scheme.group(1) not in ("http", "https"):
            return False
        return _same_host(value[scheme.end() :], host)
    if re.match(r"^[/\\]{2}", value):  # protocol-relative: //host/...
        return _same_host(value, host)
    return True  # a path on the page's own host, or an anchor


def _same_host(rest: str, host: str) -> bool:
    authority = re.split(r"[/\\?#]", rest.lstrip("/\\"), maxsplit=1)[0]
    if "@" in authority or "%" in authority:
        return False
    name = authority.rsplit(":", 1)[0] if not authority.endswith("]") else authority
    return name.lower().rstrip(".") == host.lower()


def render(markdown: str) -> str:
    """`markdown` as GitHub renders it: cmark-gfm with GitHub's extensions, raw HTML kept (GitHub
    sanitises it afterwards; the check below is stricter than that sanitiser)."""
    import cmarkgfm
    from cmarkgfm.cmark import Options

    return cmarkgfm.github_flavored_markdown_to_html(markdown, Options.CMARK_OPT_UNSAFE | Options.CMARK_OPT_FOOTNOTES)


def check(markdown: str, host: str) -> list[str]:
    """What would be harmful in `markdown` as GitHub renders it: a text outside <code>/<pre> with
    a pinging mention, a URL attribute (href, src, srcset, ...) to another host than `host`."""
    checker = _Checker(host)
    try:
        checker.feed(render(markdown))
        checker.close()
    except Exception as error:  # noqa: BLE001 - HTML the checker cannot read is HTML it cannot vouch for
        return [f"HTML the check cannot read ({type(error).__name__}: {error})"]
    return checker.problems


class _Checker(HTMLParser):
    def __init__(self, host: str):
        super().__init__(convert_charrefs=True)
        self.host = host
        self.code = 0
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        self._attributes(tag, attrs)
        if tag in ("code", "pre"):
            self.code += 1

    def handle_startendtag(self, tag, attrs):
        self._attributes(tag, attrs)

    def handle_endtag(self, tag):
        if tag in ("code", "pre") and self.code:
            self.code -= 1

    def handle_data(self, data):
        if not self.code and _PINGING.search(data):
            self.problems.append(f"a mention outside code: {_PINGING.search(data).group(0)!r}")

    def _attributes(self, tag, attrs):
        for name, value in attrs:
            name = name.lower()
            if name == "style" and value and "url(" in value.replace(" ", "").lower():
                self.problems.append(f"<{tag} style> with a url()")
            if name not in URL_ATTRIBUTES or value is None:
                continue
            urls = [part.strip().split(" ")[0] for part in value.split(",")] if name == "srcset" else [value]
            for url in urls:
                if not allowed_url(url, self.host):
                    self.problems.append(f"<{tag} {name}> to another host: {url[:80]!r}")
