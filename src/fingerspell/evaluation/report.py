"""A one-page HTML report next to the PNGs (open it in a browser)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from .._atomic import write_text


def write_report(path: Path, title: str, summary: dict[str, Any], images: list[Path],
                 per_class: dict[str, dict[str, Any]] | None = None,
                 per_signer: dict[str, dict[str, Any]] | None = None) -> Path:
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                   for k, v in summary.items())
    pictures = "".join(f'<figure><img src="{html.escape(p.name)}" alt="{html.escape(p.stem)}">'
                       f"<figcaption>{html.escape(p.stem.replace('_', ' '))}</figcaption></figure>"
                       for p in images if p.exists())
    table = ""
    if per_class:
        hands = any("hand_found" in r for r in per_class.values())

        def found(r: dict[str, Any]) -> str:
            if not hands:
                return ""
            return f"<td>{r['hand_found']:.1%}</td>" if r.get("hand_found") is not None else "<td>-</td>"

        body = "".join(
            f"<tr><td>{html.escape(name)}</td><td>{r['precision']:.3f}</td><td>{r['recall']:.3f}"
            f"</td><td>{r['f1']:.3f}</td><td>{r['support']}</td>{found(r)}</tr>"
            for name, r in per_class.items())
        table = ("<h2>Per class</h2><table><tr><th>class</th><th>precision</th><th>recall</th>"
                 f"<th>F1</th><th>support</th>{'<th>hand found</th>' if hands else ''}</tr>"
                 f"{body}</table>")
    if per_signer:
        body = "".join(f"<tr><td>{html.escape(name)}</td><td>{r['accuracy']:.1%}</td>"
                       f"<td>{r['n']}</td></tr>" for name, r in per_signer.items())
        table += ("<h2>Per signer</h2><table><tr><th>signer</th><th>accuracy</th>"
                  f"<th>images</th></tr>{body}</table>")
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 10px;text-align:left}}
img{{max-width:100%}}figure{{margin:1.5em 0}}</style></head>
<body><h1>{html.escape(title)}</h1><table>{rows}</table>{pictures}{table}</body></html>
"""
    return write_text(path, page)
