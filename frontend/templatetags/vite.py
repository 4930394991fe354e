"""{% vite_entry %}: the script and style tags of the built browser app, read from Vite's manifest.

`vite build` (frontend/package.json) writes hashed files and `.vite/manifest.json` into
frontend/static/frontend/; the manifest maps the entry module to its file, its CSS and the chunks
it imports, so the shell page links exactly the current build.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from django import template
from django.templatetags.static import static
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

register = template.Library()

BUILD = Path(__file__).resolve().parents[1] / "static" / "frontend"
MANIFEST = BUILD / ".vite" / "manifest.json"
ENTRY = "src/main.tsx"


class AppNotBuilt(LookupError):
    """The manifest is missing: the front end has not been built on this machine."""


@lru_cache(maxsize=4)
def _manifest(modified: float) -> dict:  # keyed by mtime: a rebuild is picked up without a restart
    return json.loads(MANIFEST.read_text())


def load_manifest() -> dict:
    try:
        return _manifest(MANIFEST.stat().st_mtime)
    except FileNotFoundError:
        raise AppNotBuilt(f"{MANIFEST} is missing: build the app (cd frontend && npm ci && npm run build, "
                          "or scripts/demo, which does it)") from None


def _imported_chunks(manifest: dict, key: str, seen: set[str]) -> list[str]:
    chunks = []
    for name in manifest[key].get("imports", []):
        if name not in seen:
            seen.add(name)
            chunks += [name, *_imported_chunks(manifest, name, seen)]
    return chunks


@register.simple_tag
def vite_entry(entry: str = ENTRY) -> SafeString:
    """Stylesheets, module preloads and the entry script of the built app."""
    manifest = load_manifest()
    chunks = [entry, *_imported_chunks(manifest, entry, set())]
    styles = [css for name in chunks for css in manifest[name].get("css", [])]
    return format_html(
        "{}{}<script type=\"module\" src=\"{}\"></script>",
        format_html_join("", "<link rel=\"stylesheet\" href=\"{}\">", ((static(f"frontend/{css}"),) for css in styles)),
        format_html_join("", "<link rel=\"modulepreload\" href=\"{}\">",
                         ((static(f"frontend/{manifest[name]['file']}"),) for name in chunks[1:])),
        static(f"frontend/{manifest[entry]['file']}"))
