"""A counting aiosmtpd sink for the mail benchmark, run as its own process.

It keeps nothing but counts: per phase (the bench names one, e.g. "raw" or "outbox"),
how many times each Message-ID arrived, how many recipients, how many bytes. It runs
in a separate process so its event loop never competes with the measuring process
for the GIL. A line-based control port answers the bench:

    PHASE name   -> OK              (messages from now on are counted under `name`)
    STATS name   -> one JSON line   (messages, recipients, bytes, unique, duplicated, ...)
    IDS name     -> one JSON line   (every Message-ID received in that phase, with its count)

`python -m bench.smtp_sink --port 0 --control-port 0` prints `READY <smtp> <control>`
once both listen. `Sink` below starts and stops one (by its own PID).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_MESSAGE_ID = re.compile(rb"^message-id:[ \t]*(<[^>\r\n]*>)", re.IGNORECASE | re.MULTILINE)
_PLAIN_ANGLE_ADDR = re.compile(r"\s*<([^<>\s\"()\\,;:]*)>(.*)\Z", re.DOTALL)


class Phase:
    __slots__ = ("ids", "messages", "recipients", "bytes", "rcpt_hist", "no_id")

    def __init__(self) -> None:
        self.ids: Counter[str] = Counter()
        self.messages = self.recipients = self.bytes = self.no_id = 0
        self.rcpt_hist: Counter[int] = Counter()

    def stats(self) -> dict:
        dup = {mid: n for mid, n in self.ids.items() if n > 1}
        return {
            "messages": self.messages, "recipients": self.recipients, "bytes": self.bytes,
            "unique": len(self.ids), "duplicated": len(dup),
            "extra_copies": sum(n - 1 for n in dup.values()), "without_message_id": self.no_id,
            "recipients_per_message": {str(k): v for k, v in sorted(self.rcpt_hist.items())},
        }


class CountingHandler:
    def __init__(self) -> None:
        self.phases: dict[str, Phase] = {"default": Phase()}
        self.current = self.phases["default"]

    def use(self, name: str) -> None:
        self.current = self.phases.setdefault(name, Phase())

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        content = envelope.original_content or envelope.content
        end = content.find(b"\r\n\r\n")
        match = _MESSAGE_ID.search(content, 0, end if end >= 0 else len(content))
        phase = self.current
        phase.messages += 1
        phase.recipients += len(envelope.rcpt_tos)
        phase.rcpt_hist[len(envelope.rcpt_tos)] += 1
        phase.bytes += len(content)
        if match:
            phase.ids[match.group(1).decode("ascii", "replace")] += 1
        else:
            phase.no_id += 1
        return "250 OK"


def _smtp_class():
    from aiosmtpd.smtp import SMTP

    class FastSMTP(SMTP):
        """aiosmtpd parses every MAIL/RCPT address with the e-mail package's RFC 5322
        parser, a quarter of the sink's CPU; a plain `<local@domain>` needs no parser."""

        def _getaddr(self, arg):
            match = _PLAIN_ANGLE_ADDR.match(arg or "")
            if match:
                return match.group(1), match.group(2)
            return super()._getaddr(arg)

    return FastSMTP


async def _serve(port: int, control_port: int) -> None:
    SMTP = _smtp_class()  # noqa: N806 - a class
    handler = CountingHandler()
    loop = asyncio.get_running_loop()
    smtp_server = await loop.create_server(
        lambda: SMTP(handler, hostname="bench-sink", loop=loop), host="127.0.0.1", port=port
    )

    async def control(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                command, _, name = line.decode().strip().partition(" ")
                phase = handler.phases.get(name or "default") or Phase()
                if command == "PHASE":
                    handler.use(name)
                    reply = "OK"
                elif command == "STATS":
                    reply = json.dumps(phase.stats())
                elif command == "IDS":
                    reply = json.dumps(dict(phase.ids))
                else:
                    reply = json.dumps({"error": f"unknown command {command!r}"})
                writer.write(reply.encode() + b"\n")
                await writer.drain()
        finally:
            writer.close()

    control_server = await asyncio.start_server(control, host="127.0.0.1", port=control_port)
    print(f"READY {smtp_server.sockets[0].getsockname()[1]} {control_server.sockets[0].getsockname()[1]}",
          flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()
    smtp_server.close()
    control_server.close()


class Sink:
    """Start the sink process; talk to its control port; stop it (by PID) on exit."""

    def __init__(self, python: str = sys.executable):
        self.python = python
        self.proc: subprocess.Popen | None = None
        self.port = self.control_port = 0
        self._control: socket.socket | None = None
        self._reader = None

    def __enter__(self) -> "Sink":
        self.proc = subprocess.Popen(
            [self.python, "-m", "bench.smtp_sink", "--port", "0", "--control-port", "0"],
            cwd=ROOT, stdout=subprocess.PIPE, text=True, start_new_session=True,
        )
        line = self.proc.stdout.readline()
        if not line.startswith("READY "):
            self.stop()
            raise RuntimeError(f"SMTP sink did not start (said {line!r})")
        _, port, control_port = line.split()
        self.port, self.control_port = int(port), int(control_port)
        self._control = socket.create_connection(("127.0.0.1", self.control_port), timeout=60)
        self._reader = self._control.makefile("r", encoding="utf-8")
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _ask(self, line: str) -> str:
        self._control.sendall(line.encode() + b"\n")
        return self._reader.readline().strip()

    def phase(self, name: str) -> None:
        if self._ask(f"PHASE {name}") != "OK":
            raise RuntimeError("SMTP sink refused PHASE")

    def stats(self, name: str) -> dict:
        return json.loads(self._ask(f"STATS {name}"))

    def ids(self, name: str) -> dict[str, int]:
        return json.loads(self._ask(f"IDS {name}"))

    def cpu_seconds(self) -> float | None:
        """CPU (user + system) the sink process has used so far; None off Linux."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, AttributeError):
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self._control is not None:
            self._reader.close()
            self._control.close()
            self._control = None
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # our own group: start_new_session above
            proc.wait(timeout=5)
        if proc.stdout:
            proc.stdout.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--control-port", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(_serve(args.port, args.control_port))


if __name__ == "__main__":
    main()
