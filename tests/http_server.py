#!/usr/bin/env python3
"""tests/http_server.py - a small HTTP server on 127.0.0.1 for tests/test_fetch.sh.

    python3 tests/http_server.py --root DIR --port-file FILE [--lifetime 120] [--log FILE]

Binds a free port on 127.0.0.1 (port 0), writes the port number to
--port-file, serves the files under --root, and exits after --lifetime
seconds whatever happens (so a failed test never leaves it behind).
Every request is logged, one line "METHOD PATH STATUS", to --log.

Special paths, to imitate what goes wrong on the real network:
  /drop/REST      serves REST, but files of 4096 bytes or more are cut off:
                  the Content-Length header gives the full size, half the
                  file is sent and the connection is closed
  /redirect/REST  302 to /REST (Hugging Face redirects to its CDN)
  /slow/REST      serves REST at about 20 KB/s (to interrupt a download)
  anything missing: 404
"""
import argparse
import http.server
import os
import socketserver
import sys
import threading
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--lifetime", type=float, default=120)
    ap.add_argument("--log", default=os.devnull)
    args = ap.parse_args()
    root = os.path.realpath(args.root)
    log = open(args.log, "a", buffering=1)
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):
            pass

        def note(self, status):
            with lock:
                log.write("%s %s %d\n" % (self.command, self.path, status))

        def send_plain(self, status, body):
            self.note(status)
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_HEAD(self):
            self.do_GET()

        def do_GET(self):
            path = self.path.split("?", 1)[0]
            mode = None
            for m in ("drop", "redirect", "slow"):
                if path.startswith("/%s/" % m):
                    mode, path = m, path[len(m) + 1:]
                    break
            if mode == "redirect":
                self.note(302)
                self.send_response(302)
                self.send_header("Location", path)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            full = os.path.realpath(os.path.join(root, path.lstrip("/")))
            if not full.startswith(root + os.sep) or not os.path.isfile(full):
                self.send_plain(404, b"not found\n")
                return
            with open(full, "rb") as f:
                data = f.read()
            if mode == "drop" and len(data) >= 4096:
                self.note(200)
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.note(200)
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command == "HEAD":
                return
            if mode == "slow":
                for i in range(0, len(data), 1024):
                    self.wfile.write(data[i:i + 1024])
                    self.wfile.flush()
                    time.sleep(0.05)
            else:
                self.wfile.write(data)

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
        allow_reuse_address = True

        def handle_error(self, request, client_address):
            pass  # a client that hangs up (the interrupt test) is expected

    srv = Server(("127.0.0.1", 0), Handler)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, args.port_file)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    time.sleep(args.lifetime)
    srv.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
