"""The bundled server in a child process: started on a free port, stopped on exit."""

from __future__ import annotations

import json
import os
import queue
import re
import ssl
import subprocess
import sys
import tempfile
import threading
import urllib.request
from typing import IO, Any

from corocrawl.testing._running import Running, end_process

__all__ = ["ServerProcess"]

_READY = re.compile(r"listening on (?P<url>https?://\S+)")
_CA = re.compile(r"--ca-bundle (?P<ca>\S+)\)")
# No proxy handler: a proxy from the environment must never see loopback test traffic.
_direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ServerProcess(Running):
    """Runs `corocrawl serve` in a subprocess, so that it has a core of its own.

    with ServerProcess("--delay", "0.5") as server:
        print(server.url)            # e.g. http://127.0.0.1:41234
        print(server.stats()["peak_in_flight"])
    """

    def __init__(self, *args: str, ready_timeout: float = 20.0) -> None:
        self.args = ("--port", "0", *args)
        self.ready_timeout = ready_timeout
        self.url = ""
        self.ca_file: str | None = None  # with --tls: the CA the server's certificate is from
        self._process: subprocess.Popen[str] | None = None
        self._stderr: IO[str] | None = None

    def start(self) -> None:
        # stderr goes to a file: a pipe nobody reads could fill up and block the server.
        self._stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed by stop()
        process = subprocess.Popen(
            [sys.executable, "-m", "corocrawl", "serve", *self.args],
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        self._process = process
        assert process.stdout is not None
        lines = _lines_in_background(process.stdout)
        try:
            line = lines.get(timeout=self.ready_timeout)
        except queue.Empty:
            line = ""
        match = _READY.search(line)
        if match is None:
            errors = self.stop()
            raise RuntimeError(f"the test server did not start: {line!r}\n{errors.strip()}")
        self.url = match["url"]
        made = _CA.search(line)
        self.ca_file = None if made is None else made["ca"]

    def stop(self) -> str:
        """Stop the server (terminate, then kill); return what it wrote on stderr."""
        process, self._process = self._process, None
        if process is None:
            return ""
        end_process(process)
        if process.stdout is not None:
            process.stdout.close()
        errors = ""
        if self._stderr is not None:
            self._stderr.seek(0)
            errors = self._stderr.read()
            self._stderr.close()
            self._stderr = None
        return errors

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError("the server is not running")
        return self._process.pid

    def cpu_seconds(self) -> float | None:
        """CPU time (user + system) the server has used so far; None where /proc is missing."""
        try:
            with open(f"/proc/{self.pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        # After the command name: utime and stime are the 12th and 13th fields, in clock ticks.
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stats(self) -> dict[str, Any]:
        """The server's counters (GET /stats)."""
        with self._open("/stats") as response:
            stats: dict[str, Any] = json.load(response)
            return stats

    def reset_stats(self) -> None:
        with self._open("/stats/reset"):
            pass

    def _open(self, path: str) -> Any:
        if self.ca_file is None:
            return _direct.open(f"{self.url}{path}", timeout=10)
        context = ssl.create_default_context(cafile=self.ca_file)
        return urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
        ).open(f"{self.url}{path}", timeout=10)


def _lines_in_background(stream: IO[str]) -> queue.Queue[str]:
    """Read the ready line without blocking forever, then keep draining the pipe."""
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines
