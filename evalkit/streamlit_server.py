"""Serving a Streamlit page (the study, the run viewer) with nothing public beyond the page itself.

Streamlit answers ``/_stcore/metrics`` to anyone who can reach the page: session counts and memory, which tell an
outsider how many people are taking a study right now. It has no setting to turn that off, so `evalkit study serve`
and `evalkit view` start this module instead of Streamlit's own command: it answers the metrics routes with 404, then
runs Streamlit. The agent API (a way to drive the page without a browser) and error details are switched off on the
command line, whatever a user's config.toml says. If a Streamlit release moves the route table, serving is refused
with the versions that work, rather than served with the page open.

Downloads (the admin page's answers CSV) are made when the button is pressed, inside the admin's session, and their
address answers for ``EVALKIT_DOWNLOAD_TTL_S`` seconds (60) after that: Streamlit would otherwise keep serving the
file to anyone holding the link until enough other page runs have happened to collect it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from evalkit.errors import EvalkitInputError

LOCKED_OPTIONS = ("--server.headless", "true", "--browser.gatherUsageStats", "false", "--client.toolbarMode", "viewer",
                  "--client.showErrorDetails", "none", "--server.enableAgentApi", "false")


# What a served study does not need, and what it costs the participant waiting for the next question:
# - Streamlit forces a full garbage collection after every script run (``runner.postScriptGC``). With evalkit's
#   modules loaded (pandas, SciPy, SQLAlchemy) that is ~60 ms per run, and a submit takes two runs: it was most of
#   the gap between the study page and a bare Streamlit form (benchmarks/study_browser.py). Python's own
#   generational collector still runs.
# - The file watcher polls every source file of every imported module for edits, to rerun on save: CPU taken from
#   the participants for a feature only a developer uses.
SPEED_OPTIONS = ("--runner.postScriptGC", "false", "--server.fileWatcherType", "none", "--server.runOnSave", "false")


def check_can_listen(address: str, port: int) -> None:
    """Refuse a busy port or an address this machine does not have before Streamlit prints its own traceback."""
    try:
        with socket.create_server((address, port)):
            pass
    except (OSError, OverflowError) as exc:
        raise EvalkitInputError(f"--address {address} --port {port}: cannot listen there ({exc.strerror or exc}); "
                                f"choose a free port (e.g. --port {port + 1 if port < 65535 else 8501}) or an address of this machine") from exc


def serve(script: Path, port: int, address: str, env: dict[str, str]) -> int:
    """Run ``script`` as a Streamlit page on ``address:port`` until stopped; returns Streamlit's exit status."""
    check_can_listen(address, port)
    cmd = [sys.executable, "-m", "evalkit.streamlit_server", "run", str(script), "--server.port", str(port),
           "--server.address", address, *LOCKED_OPTIONS, *SPEED_OPTIONS]
    return subprocess.call(cmd, env={**os.environ, **env})


def close_metrics_routes() -> None:
    """Make Streamlit's route table answer the metrics paths with 404 (called before Streamlit builds its server)."""
    try:
        from starlette.responses import PlainTextResponse
        from starlette.routing import Route
        from streamlit.web.server.starlette import starlette_app, starlette_routes
    except ImportError as exc:
        raise SystemExit(f"evalkit: this Streamlit has no Starlette server ({exc}); install streamlit>=1.67 "
                         "(pip install -U 'evalkit[study]') so the metrics page can be closed") from None
    if not (hasattr(starlette_app, "create_metrics_routes") and hasattr(starlette_routes, "ROUTE_METRICS")):
        raise SystemExit("evalkit: this Streamlit release moved its metrics route, so the page cannot be closed; "
                         "install streamlit 1.67 to 1.x (pip install 'streamlit>=1.67,<2')")

    async def not_found(request) -> PlainTextResponse:
        return PlainTextResponse("not found", status_code=404)

    def closed_routes(runtime, base_url):
        path = starlette_routes._with_base(starlette_routes.ROUTE_METRICS, base_url)
        return [Route(path, not_found, methods=["GET", "HEAD", "OPTIONS"])]

    starlette_app.create_metrics_routes = closed_routes


def expire_downloads(ttl_s: float) -> None:
    """Make each downloadable file's address answer 404 ``ttl_s`` seconds after it was last made."""
    from streamlit.runtime.media_file_storage import MediaFileKind, MediaFileStorageError
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    made: dict[str, float] = {}
    load, get = MemoryMediaFileStorage.load_and_get_id, MemoryMediaFileStorage.get_file

    def load_and_get_id(self, path_or_data, mimetype, kind, filename=None):
        file_id = load(self, path_or_data, mimetype, kind, filename)
        if kind == MediaFileKind.DOWNLOADABLE:
            made[file_id] = time.monotonic()
        return file_id

    def get_file(self, filename):
        file_id = os.path.splitext(filename)[0]
        if file_id in made and time.monotonic() - made[file_id] > ttl_s:
            self.delete_file(file_id)
            made.pop(file_id, None)
            raise MediaFileStorageError(f"download {file_id} expired")
        return get(self, filename)

    MemoryMediaFileStorage.load_and_get_id, MemoryMediaFileStorage.get_file = load_and_get_id, get_file


def main() -> None:
    close_metrics_routes()
    expire_downloads(float(os.environ.get("EVALKIT_DOWNLOAD_TTL_S", "60")))
    from streamlit.web import cli

    cli.main(prog_name="streamlit")


if __name__ == "__main__":
    main()
