"""Serve a DataApiSimulator over real HTTP on 127.0.0.1, so CLI subprocesses can use it as OPENROUTER_BASE_URL.

    python -m assets.source.server --port 8765     # default market, key `sim-key`, until killed
"""

from __future__ import annotations

import argparse
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from assets.source.simulator import DataApiSimulator, MarketConfig, SimulatedMarket

# Hop-by-hop or recomputed headers that must not be copied from the httpx response.
_SKIP_HEADERS = {"content-length", "transfer-encoding", "connection", "content-encoding"}


def _handler_for(simulator: DataApiSimulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _forward(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            host, port = self.server.server_address[:2]
            request = httpx.Request(self.command, f"http://{host}:{port}{self.path}",
                                    headers=list(self.headers.items()),
                                    content=self.rfile.read(length) if length else b"")
            response = simulator.handle(request)  # sleeps for injected delay_s, so client timeouts are real
            body = response.content
            try:
                self.send_response(response.status_code)
                for name, value in response.headers.items():
                    if name.lower() not in _SKIP_HEADERS:
                        self.send_header(name, value)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test); nothing to tell it

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward

        def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
            pass  # keep test output clean; the simulator logs requests itself

    return Handler


@contextmanager
def serve(simulator: DataApiSimulator, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Run the simulator behind a ThreadingHTTPServer in a daemon thread; yields the base URL
    (`http://127.0.0.1:<port>/api/v1`). Port 0 picks a free port."""
    server = ThreadingHTTPServer((host, port), _handler_for(simulator))
    server.daemon_threads = True
    # A short poll interval keeps shutdown (every test teardown) quick.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="data-api-simulator", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}/api/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the simulated OpenRouter Data API until killed.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--seed", type=int, default=MarketConfig.seed)
    parser.add_argument("--revision", type=int, default=0)
    parser.add_argument("--api-key", default="sim-key")
    args = parser.parse_args(argv)
    simulator = DataApiSimulator(SimulatedMarket(MarketConfig(seed=args.seed)), api_key=args.api_key,
                                 revision=args.revision)
    with serve(simulator, host=args.host, port=args.port) as base_url:
        print(f"simulated Data API at {base_url} (key {args.api_key}); Ctrl-C to stop", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
