"""A tiny threaded HTTP service for tests: /health answers 200 'ok', writes its pid file.

    python tests/services/web.py PORT PIDFILE
"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's naming
        body = b"ok" if self.path.startswith("/health") else b"hello"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # clients that time out and hang up are expected here


if __name__ == "__main__":
    port, pidfile = int(sys.argv[1]), sys.argv[2]
    server = Server(("127.0.0.1", port), Handler)
    import os

    Path(pidfile).write_text(str(os.getpid()))
    server.serve_forever()
