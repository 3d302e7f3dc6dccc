"""What the dashboard's server answers: the runtime configuration and the built files.

The built app (``npm run build``) is ``index.html`` and ``assets/`` with
content-hashed names. Assets are cached for a year; ``index.html`` and the
configuration are revalidated on every load, so a new build shows at once. Any
path without a file extension is a route of the app and gets ``index.html``.
No path leaves the build directory.
"""

from __future__ import annotations

import asyncio
import html
import os
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG
from urllib.parse import urlsplit

from services.common.errors import NotFoundError
from services.common.settings import DASHBOARD_CLIENT_ID, DashboardSettings
from services.dashboard.schemas import RuntimeConfig, ServiceUrls

ASSET_CACHE_CONTROL = "public, max-age=31536000, immutable"
"""Assets carry a hash of their content in their name: a changed file has a new name."""
REVALIDATE_CACHE_CONTROL = "no-cache"
INDEX = "index.html"
ASSETS = "assets"


def content_security_policy(settings: DashboardSettings) -> str:
    """The app loads only its own files and talks only to the suite's services."""
    urls = settings.service_urls()
    connect = " ".join(dict.fromkeys(_source(url) for url in urls.values()))
    return (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' blob: data:; "
        f"connect-src 'self' {connect}; form-action {_source(urls['auth'])}; "
        "frame-ancestors 'none'; base-uri 'self'; object-src 'none'"
    )


def _source(url: str) -> str:
    # A CSP source with a path and no trailing slash matches that one path only;
    # a service behind a path prefix must match everything under it.
    return url if urlsplit(url).path in ("", "/") else f"{url}/"


@dataclass(frozen=True)
class StaticFile:
    """A file of the build that answers a request, and how long browsers may keep it."""

    path: Path
    stat: os.stat_result
    cache_control: str


class BuildDirectory:
    """The built app on disk; every lookup stays inside it."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def is_built(self) -> bool:
        return (self.root / INDEX).is_file()

    def locate(self, path: str) -> StaticFile | None:
        """The file answering GET ``path``; None when there is no build. Blocking (file system).

        Raises ``NotFoundError`` for a missing asset, a missing file with an
        extension, and any path that tries to leave the directory.
        """
        if not self.is_built():
            return None
        parts = _safe_parts(path)
        if parts and parts[0] == ASSETS:
            return self._file(parts, ASSET_CACHE_CONTROL)
        if parts:
            try:
                return self._file(parts, REVALIDATE_CACHE_CONTROL)
            except NotFoundError:
                if "." in parts[-1]:
                    raise
        return self._file([INDEX], REVALIDATE_CACHE_CONTROL)

    def _file(self, parts: list[str], cache_control: str) -> StaticFile:
        root = self.root.resolve()
        candidate = root.joinpath(*parts).resolve()
        # resolve() follows symbolic links: one that points outside is refused too.
        if candidate.is_relative_to(root):
            try:
                stat = candidate.stat()
            except OSError:  # missing, or a name the file system refuses (too long)
                stat = None
            if stat is not None and S_ISREG(stat.st_mode):
                return StaticFile(candidate, stat, cache_control)
        raise NotFoundError(f"no file /{'/'.join(parts)}")


def _safe_parts(path: str) -> list[str]:
    """The path's segments; refuses ``.``, ``..``, backslashes and NUL, however they were encoded.

    The server has decoded percent-escapes already, so ``%2e%2e`` arrives as ``..``.
    """
    parts = [part for part in path.split("/") if part]
    for part in parts:
        if part in (".", "..") or "\\" in part or "\x00" in part:
            raise NotFoundError("no such file")
    return parts


NOT_BUILT_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>gridmarket: the dashboard is not built</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 42rem; margin: 3rem auto;
       padding: 0 1rem; line-height: 1.5; color: #222; }}
pre, code {{ background: #f2f2f2; border-radius: 3px; }}
pre {{ padding: 0.6rem 0.8rem; overflow-x: auto; }}
code {{ padding: 0.1rem 0.3rem; }}
</style>
</head>
<body>
<h1>The dashboard is not built</h1>
<p>This server serves the built web app, and there is no <code>index.html</code> in its
build directory{where}.</p>
<p>Build it from the repository's root, then reload this page. <code>make run</code> builds it
and starts the whole suite; to build it alone:</p>
<pre>npm --prefix frontend ci &amp;&amp; npm --prefix frontend run build</pre>
<p>Building needs Node.js and npm. The services' APIs answer meanwhile; their
documentation is at <code>/docs</code> on each of them.</p>
</body>
</html>
"""


class DashboardService:
    """The dashboard's two answers: its runtime configuration and the built files."""

    def __init__(self, settings: DashboardSettings) -> None:
        self.settings = settings
        self.build = BuildDirectory(settings.dist_dir)

    def runtime_config(self) -> RuntimeConfig:
        return RuntimeConfig(
            client_id=DASHBOARD_CLIENT_ID,
            environment=self.settings.environment,
            services=ServiceUrls(**self.settings.service_urls()),
        )

    async def locate(self, path: str) -> StaticFile | None:
        """``BuildDirectory.locate`` off the event loop."""
        return await asyncio.to_thread(self.build.locate, path)

    async def is_built(self) -> bool:
        return await asyncio.to_thread(self.build.is_built)

    def not_built_page(self) -> str:
        """A page that says how to build the app (in development, also where it is looked for)."""
        where = ""
        if self.settings.environment == "development":
            where = f" (<code>{html.escape(str(self.settings.dist_dir))}</code>)"
        return NOT_BUILT_PAGE.format(where=where)
