"""A real SMTP server for authd's tests (aiosmtpd): every message it accepts is written to a
folder, one .eml file each. `--fail-first N` answers the first N messages with a temporary
failure (451), as a busy server does. Runs until its standard input closes.

    python server.py PORT FOLDER [--fail-first N]
"""
import argparse
import os
import sys
import time
import uuid

from aiosmtpd.controller import Controller


class Handler:
    def __init__(self, folder, fail_first):
        self.folder, self.fail_first = folder, fail_first

    async def handle_DATA(self, server, session, envelope):
        if self.fail_first > 0:
            self.fail_first -= 1
            return "451 4.3.0 Busy, try again later"
        name = f"{time.time_ns()}-{uuid.uuid4().hex}.eml"
        partial = os.path.join(self.folder, f".{name}")
        with open(partial, "wb") as out:
            out.write(envelope.original_content or envelope.content)
        os.rename(partial, os.path.join(self.folder, name))
        return "250 OK"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("folder")
    parser.add_argument("--fail-first", type=int, default=0)
    args = parser.parse_args()
    os.makedirs(args.folder, exist_ok=True)
    controller = Controller(Handler(args.folder, args.fail_first), hostname="127.0.0.1", port=args.port)
    controller.start()
    print("listening", flush=True)
    sys.stdin.read()
    controller.stop()


if __name__ == "__main__":
    main()
