"""A local SMTP sink for `make run`: every message lands as one .eml file in instance/mail/.

Development only; nothing is delivered anywhere. `python -m mailers.sink [--dir DIR]`.
It runs without the app: the default folder is the project's instance/mail, found from
this file (or mail/ in DOSSIER_INSTANCE_DIR).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from pathlib import Path

from aiosmtpd.controller import Controller

DEFAULT_DIR = Path(os.environ.get("DOSSIER_INSTANCE_DIR") or Path(__file__).resolve().parents[1] / "instance") / "mail"


class EmlWriter:
    def __init__(self, directory: Path):
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = self.directory / f"{stamp}-{time.monotonic_ns()}.eml"
        header = f"X-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n".encode()
        path.write_bytes(header + envelope.original_content)
        return "250 Message accepted for delivery"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    args = parser.parse_args()
    controller = Controller(EmlWriter(args.dir), hostname="127.0.0.1", port=args.port)
    controller.start()
    print(f"SMTP sink on 127.0.0.1:{args.port}, writing .eml files to {args.dir}", flush=True)
    try:
        asyncio.run(asyncio.Event().wait())
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
