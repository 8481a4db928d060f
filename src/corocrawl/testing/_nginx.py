"""nginx in a child process, serving static files: a server that is not the bottleneck (for
benchmarks), and one that speaks HTTP/2 over TLS (for the tests of HTTP/2)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from corocrawl.testing._running import Running, end_process

__all__ = ["NginxServer", "nginx_echo_module", "nginx_executable"]

_ECHO_MODULES = ("/usr/lib/nginx/modules/ngx_http_echo_module.so",
                 "/usr/share/nginx/modules/ngx_http_echo_module.so")  # fmt: skip

_CONFIG = """
{modules}
{user}
worker_processes 1;
daemon off;
pid {run}/nginx.pid;
error_log {run}/error.log warn;
events {{ worker_connections 16384; }}
http {{
    log_format connections '$connection $server_protocol';
    access_log {access_log};
    keepalive_requests 1000000;
    client_body_temp_path {run}/body;
    proxy_temp_path {run}/proxy;
    fastcgi_temp_path {run}/fastcgi;
    uwsgi_temp_path {run}/uwsgi;
    scgi_temp_path {run}/scgi;
    types {{ text/html html; text/css css; application/octet-stream bin; }}
    server {{
        listen 127.0.0.1:{port} {listen} backlog=4096;
        {tls}
        root {root};
        {default_type}
        location / {{ {location} }}
    }}
}}
"""


def nginx_executable() -> str | None:
    """Where nginx is (Debian: apt-get install nginx-light), or None."""
    return shutil.which("nginx") or next(
        (path for path in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(path, os.X_OK)),
        None,
    )


def nginx_echo_module() -> str | None:
    """Where nginx's echo module is (Debian: apt-get install libnginx-mod-http-echo), or None.
    It lets nginx answer after a delay without a thread or a process per request."""
    return next((path for path in _ECHO_MODULES if os.path.exists(path)), None)


class NginxServer(Running):
    """nginx serving `root` on a free port of 127.0.0.1, until `stop()`.

    With `every_path` set, every URL answers that one file (distinct URLs for a benchmark,
    one file on disk). With `delay` set instead, every URL answers a short text after that many
    seconds (this needs the echo module). With `tls` ((certificate chain, key) PEM files) it
    serves HTTPS, and HTTP/2 to clients that offer it (ALPN). With `log_connections`, that file
    gets a line per request: the serial number of the connection it came over, and its
    protocol. `default_type` is the Content-Type of files whose name has no known extension.
    """

    def __init__(
        self,
        root: Path,
        *,
        every_path: str | None = None,
        tls: tuple[Path, Path] | None = None,
        delay: float | None = None,
        log_connections: Path | None = None,
        default_type: str | None = None,
    ) -> None:
        executable = nginx_executable()
        if executable is None:
            raise RuntimeError("nginx is not installed (Debian: apt-get install nginx-light)")
        self._executable = executable
        self._run = Path(tempfile.mkdtemp(prefix="corocrawl-nginx-"))
        self._port = port = _free_port()
        modules = ""
        if delay is not None:
            module = nginx_echo_module()
            if module is None:
                raise RuntimeError(
                    "nginx's echo module is not installed (Debian: apt-get install "
                    "libnginx-mod-http-echo)"
                )
            modules = f"load_module {module};"
            location = f"echo_sleep {delay:.3f}; echo ok;"
        elif every_path:
            location = f"try_files /{every_path} =404;"
        else:
            location = "try_files $uri =404;"
        tls_lines = ""
        if tls is not None:
            chain, key = tls
            tls_lines = f"ssl_certificate {chain}; ssl_certificate_key {key};"
        (self._run / "nginx.conf").write_text(
            _CONFIG.format(
                modules=modules,
                access_log="off" if log_connections is None else f"{log_connections} connections",
                # Started by root, nginx's worker would drop to nobody, who cannot read the
                # files of a root-only directory (pytest's temporary ones).
                user="user root;" if os.geteuid() == 0 else "",
                run=self._run,
                port=port,
                listen="ssl http2" if tls is not None else "",
                tls=tls_lines,
                root=root.resolve(),
                location=location,
                default_type="" if default_type is None else f"default_type {default_type};",
            )
        )
        self.url = f"{'https' if tls is not None else 'http'}://127.0.0.1:{port}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            [self._executable, "-p", str(self._run), "-c", str(self._run / "nginx.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self._wait_until_listening(self._port)

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError("nginx is not started: use start() or a with block")
        return self._process.pid

    def cpu_seconds(self) -> float | None:
        """CPU time of nginx's processes (master and worker) so far; None without /proc."""
        total = 0.0
        try:
            children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
            for pid in [str(self.pid), *children]:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            return None
        return total

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            end_process(process)
            if process.stderr is not None:
                process.stderr.close()
        shutil.rmtree(self._run, ignore_errors=True)

    def _wait_until_listening(self, port: int) -> None:
        deadline = time.monotonic() + 10
        process = self._process
        assert process is not None
        while time.monotonic() < deadline:
            if process.poll() is not None:
                errors = process.stderr.read().decode() if process.stderr else ""
                self.stop()
                raise RuntimeError(f"nginx did not start: {errors.strip()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError("nginx did not start listening within 10 s")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
