"""RFC 3986 reference resolution, which ARM's uri() documents (`resolve_uri`)."""

from __future__ import annotations

import re

_URI = re.compile(r"(?:([A-Za-z][A-Za-z0-9+.-]*):)?(?://([^/?#]*))?([^?#]*)(?:\?([^#]*))?(?:#(.*))?", re.S)


def _remove_dot_segments(path: str) -> str:
    # RFC 3986 section 5.2.4.
    out: list[str] = []
    while path:
        if path.startswith("../"):
            path = path[3:]
        elif path.startswith("./"):
            path = path[2:]
        elif path.startswith("/./") or path == "/.":
            path = "/" + path[3:]
        elif path.startswith("/../") or path == "/..":
            path = "/" + path[4:]
            if out:
                out.pop()
        elif path in (".", ".."):
            path = ""
        else:
            cut = path.find("/", 1)
            segment, path = (path, "") if cut < 0 else (path[:cut], path[cut:])
            out.append(segment)
    return "".join(out)


def _uri_parts(text: str) -> tuple[str | None, str | None, str, str | None, str | None]:
    match = _URI.fullmatch(text)
    assert match is not None  # every part is optional, so any text matches
    scheme, authority, path, query, fragment = match.groups()
    return scheme, authority, path, query, fragment


def resolve_uri(base: str, reference: str) -> str:
    """RFC 3986 section 5.2 resolution, which ARM's uri() documents. Raises ValueError for a relative base."""
    b_scheme, b_auth, b_path, b_query, _ = _uri_parts(base)
    if b_scheme is None:
        raise ValueError("the base URI must be absolute (with a scheme such as https://)")
    r_scheme, r_auth, r_path, r_query, r_fragment = _uri_parts(reference)
    if r_scheme is not None:
        scheme, auth, path, query = r_scheme, r_auth, _remove_dot_segments(r_path), r_query
    else:
        scheme = b_scheme
        if r_auth is not None:
            auth, path, query = r_auth, _remove_dot_segments(r_path), r_query
        else:
            auth = b_auth
            if not r_path:
                path, query = b_path, (r_query if r_query is not None else b_query)
            else:
                if r_path.startswith("/"):
                    path = _remove_dot_segments(r_path)
                elif b_auth is not None and not b_path:
                    path = _remove_dot_segments("/" + r_path)
                else:
                    path = _remove_dot_segments(b_path[: b_path.rfind("/") + 1] + r_path)
                query = r_query
    text = f"{scheme}:"
    if auth is not None:
        text += f"//{auth}"
    text += path
    if query is not None:
        text += f"?{query}"
    if r_fragment is not None:
        text += f"#{r_fragment}"
    return text
