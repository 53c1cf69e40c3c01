#!/usr/bin/env python3
"""An SMTP sink (aiosmtpd) for `sequencer-bench send`: accepts every message and counts it.

Listens on 127.0.0.1 on a free port and writes {"port": N} to --ready once it accepts
connections. Offers PIPELINING (aiosmtpd reads commands from a stream, so pipelined commands
work; it just does not say so). On SIGTERM, or when its parent exits, writes
{"received": N, "recipients": R} to --log and exits.
"""
import argparse
import asyncio
import json
import logging
import os
import signal

from aiosmtpd.smtp import SMTP


class Sink:
    def __init__(self):
        self.received = 0
        self.recipients = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        return responses[:-1] + ["250-PIPELINING", responses[-1]]

    async def handle_DATA(self, server, session, envelope):
        self.received += 1
        self.recipients += len(envelope.rcpt_tos)
        return "250 2.0.0 Ok: queued"


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ready", required=True)
    parser.add_argument("--log", required=True)
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)
    # The parent may block SIGTERM; a child inherits that mask, so unblock it.
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    sink = Sink()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(sink, hostname="sink.local"), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)

    async def watch_parent():
        parent = os.getppid()
        while os.getppid() == parent:
            await asyncio.sleep(0.5)
        stop.set()

    watcher = asyncio.ensure_future(watch_parent())
    with open(args.ready + ".tmp", "w") as ready:
        json.dump({"port": port}, ready)
    os.replace(args.ready + ".tmp", args.ready)
    await stop.wait()
    watcher.cancel()
    with open(args.log, "w") as log:
        json.dump({"received": sink.received, "recipients": sink.recipients}, log)
    os._exit(0)


asyncio.run(main())
