"""The HTML frame of the web pages: one layout, one inline style sheet, no JavaScript.

The pages are few and small, so they are plain strings with every value
escaped here, not a template engine. The style sheet is inline and allowed by
its hash in the Content-Security-Policy, which forbids everything else.
"""

from __future__ import annotations

import base64
import hashlib
from html import escape

from aiohttp import web

CSS = """\
:root{color-scheme:light dark;--fg:#1c1e22;--bg:#eef1f5;--card:#fff;--muted:#4f5560;\
--accent:#1f4fd1;--on-accent:#fff;--err:#b3261e;--line:#8b919b;--ok:#176b3a}
@media (prefers-color-scheme:dark){:root{--fg:#e9eaee;--bg:#121419;--card:#1c1f26;\
--muted:#b4b8c1;--accent:#8fb2ff;--on-accent:#0d1424;--err:#ff9b91;--line:#6f7582;\
--ok:#7ddf9f}}
*{box-sizing:border-box}
body{margin:0;font:1.0625rem/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;\
color:var(--fg);background:var(--bg)}
main{max-width:31rem;margin:2.5rem auto;padding:1.75rem 1.75rem 2rem;background:var(--card);\
border-radius:.8rem;box-shadow:0 1px 3px rgba(0,0,0,.12),0 6px 24px rgba(0,0,0,.06)}
@media (max-width:34rem){main{margin:0;border-radius:0;box-shadow:none;min-height:100vh;\
padding:1.25rem}}
h1{font-size:1.6rem;line-height:1.25;margin:0 0 .5rem}
h2{font-size:1.15rem;margin:1.75rem 0 .5rem}
p{margin:.5rem 0}
.lead{color:var(--muted)}
label{display:block;font-weight:600;margin-top:1.25rem}
.hint{color:var(--muted);font-size:.9rem;margin:.1rem 0 0}
input{display:block;width:100%;font:inherit;padding:.6rem .75rem;margin-top:.35rem;\
border:1px solid var(--line);border-radius:.45rem;background:var(--card);color:var(--fg)}
input[aria-invalid=true]{border:2px solid var(--err)}
.error{color:var(--err);font-weight:600;font-size:.95rem;margin:.35rem 0 0}
button{display:block;width:100%;margin-top:1.75rem;font:inherit;font-weight:700;\
padding:.75rem;border:0;border-radius:.45rem;background:var(--accent);color:var(--on-accent);\
cursor:pointer}
input:focus-visible,button:focus-visible,a:focus-visible{outline:3px solid var(--accent);\
outline-offset:2px}
a{color:var(--accent)}
.summary{border:2px solid var(--err);border-radius:.45rem;padding:.5rem 1rem;margin:1rem 0}
.summary h2{margin:.25rem 0;font-size:1rem;color:var(--err)}
.summary ul{margin:.25rem 0;padding-left:1.25rem}
.number{font-size:2.4rem;font-weight:800;letter-spacing:.06em;margin:.25rem 0 .5rem;\
color:var(--ok);font-variant-numeric:tabular-nums}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.35rem 1rem;margin:.5rem 0}
dt{font-weight:600}
dd{margin:0;overflow-wrap:anywhere}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.95em}
footer{margin-top:2rem;font-size:.85rem;color:var(--muted)}
"""

_STYLE_HASH = base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()
CSP = (f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; form-action 'self'; "
       "base-uri 'none'; frame-ancestors 'none'")
"""Nothing but this page's own style sheet and forms posting back to this site."""


def esc(text: str | int) -> str:
    """Escape a value for HTML text and attribute values."""
    return escape(str(text), quote=True)


def page(title: str, body: str, *, service_name: str, status: int = 200,
         headers: dict[str, str] | None = None) -> web.Response:
    """A complete HTML response: ``body`` is trusted markup, ``title`` is escaped."""
    text = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{esc(title)} – {esc(service_name)}</title>
<style>{CSS}</style>
</head>
<body>
<main>
{body}
<footer>{esc(service_name)} · an IMIP instant-messaging service</footer>
</main>
</body>
</html>
"""
    response = web.Response(text=text, status=status, content_type="text/html",
                            charset="utf-8", headers=headers)
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Cache-Control"] = "no-store"
    return response


def message_page(title: str, paragraphs: list[str], *, service_name: str, status: int,
                 link: tuple[str, str] | None = None,
                 headers: dict[str, str] | None = None) -> web.Response:
    """A page that only says something (an error, a closed door); text is escaped."""
    body = f"<h1>{esc(title)}</h1>\n" + "".join(f"<p>{esc(p)}</p>\n" for p in paragraphs)
    if link is not None:
        href, text = link
        body += f'<p><a href="{esc(href)}">{esc(text)}</a></p>\n'
    return page(title, body, service_name=service_name, status=status, headers=headers)
