#!/usr/bin/env python3
"""A real SMTP server (aiosmtpd) for the SequencerTransports tests.

It listens on 127.0.0.1 on a free port, writes {"port": N} to --ready once it accepts
connections, and appends one JSON line per received message to --log:

    peer        [host, port] of the client connection (same port = same connection)
    mail_from   envelope sender; mail_options: its parameters (SIZE=...)
    rcpt_tos    envelope recipients
    raw         the message data as received (after un-dot-stuffing), latin-1 decoded
    tls         whether the connection was encrypted; tls_version: e.g. "TLSv1.3"
    auth_user, auth_mechanism   who authenticated, and how (null without AUTH)
    parsed      the message as Python's email package reads it: decoded headers,
                content type, and each text part's decoded body
    received_at when the message's data was received (seconds since 1970)

Modes: plain, starttls (STARTTLS offered and required), tls (implicit TLS), silent (accepts
connections, never answers). --auth user:password requires AUTH PLAIN or LOGIN.
--reject ADDRESS=CODE answers RCPT TO:<ADDRESS> with CODE (e.g. 550 or 451).
--data-delay SECONDS records each message, then waits that long before accepting it (250).
--drop-after N closes a connection, without a reply, at the first MAIL FROM after N messages
on it (a server that dropped a kept connection while the client was not looking).
--pipelining offers PIPELINING (aiosmtpd reads commands from a stream, so pipelined commands
work; it just does not say so); each record then says whether the client pipelined: whether
the line after MAIL FROM had already arrived when MAIL FROM was read ("pipelined").
"""
import argparse
import asyncio
import email
import email.header
import email.policy
import json
import logging
import os
import signal
import ssl
import sys
import time
import warnings

from aiosmtpd.smtp import SMTP, AuthResult


def decode_header(value):
    return str(email.header.make_header(email.header.decode_header(value)))


def parse(raw: bytes):
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    headers = [[name, decode_header(value)] for name, value in message.items()]
    parts = []
    for part in message.walk():
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True) or b""
        charset = part.get_content_charset() or "us-ascii"
        parts.append({
            "content_type": part.get_content_type(),
            "charset": charset,
            "transfer_encoding": part.get("Content-Transfer-Encoding"),
            "body": payload.decode(charset),
        })
    return {
        "headers": headers,
        "content_type": message.get_content_type(),
        "is_multipart": message.is_multipart(),
        "parts": parts,
    }


class Recorder:
    def __init__(self, log_path, rejects, pipelining=False, drop_after=None, data_delay=0):
        self.log_path = log_path
        self.rejects = rejects
        self.pipelining = pipelining
        self.drop_after = drop_after
        self.data_delay = data_delay

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if self.pipelining:
            return responses[:-1] + ["250-PIPELINING", responses[-1]]
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.drop_after is not None and getattr(session, "x_messages", 0) >= self.drop_after:
            server.transport.abort()
            return "421 4.4.2 dropped"
        buffered = bytes(getattr(server._reader, "_buffer", b""))
        session.x_pipelined = buffered.upper().startswith(b"RCPT")
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        code = self.rejects.get(address.lower())
        if code is not None:
            text = "Recipient address rejected" if code.startswith("5") else "Try again later"
            return f"{code} {code[0]}.1.1 <{address}>: {text}"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content
        ssl_object = server.transport.get_extra_info("ssl_object") if server.transport else None
        record = {
            "received_at": time.time(),
            "peer": list(session.peer) if session.peer else None,
            "mail_from": envelope.mail_from,
            "mail_options": envelope.mail_options,
            "rcpt_tos": envelope.rcpt_tos,
            "raw": raw.decode("latin-1"),
            "tls": ssl_object is not None,
            "tls_version": ssl_object.version() if ssl_object is not None else None,
            "pipelined": getattr(session, "x_pipelined", False),
            "auth_user": getattr(session, "x_user", None),
            "auth_mechanism": getattr(session, "x_mechanism", None),
            "parsed": parse(raw),
        }
        session.x_messages = getattr(session, "x_messages", 0) + 1
        with open(self.log_path, "a", encoding="utf-8") as log:
            log.write(json.dumps(record) + "\n")
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        return "250 2.0.0 Ok: queued"


def make_authenticator(user, password):
    def authenticate(server, session, envelope, mechanism, auth_data):
        login = auth_data.login.decode() if isinstance(auth_data.login, bytes) else auth_data.login
        secret = auth_data.password.decode() if isinstance(auth_data.password, bytes) else auth_data.password
        if login == user and secret == password:
            session.x_user = login
            session.x_mechanism = mechanism
            return AuthResult(success=True, handled=False)
        return AuthResult(success=False, handled=False)
    return authenticate


class Silent(asyncio.Protocol):
    """Accepts a connection and never says anything: for timeout tests."""


async def exit_with_parent():
    """Stops the server when the test process that started it is gone, even if it crashed."""
    parent = os.getppid()
    while os.getppid() == parent:
        await asyncio.sleep(0.5)
    os._exit(0)


async def main():
    # The test runner may block SIGTERM; a child inherits that mask, so unblock it.
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    watchdog = asyncio.get_running_loop().create_task(exit_with_parent())
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["plain", "starttls", "tls", "silent"], default="plain")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--auth")
    parser.add_argument("--reject", action="append", default=[])
    parser.add_argument("--pipelining", action="store_true")
    parser.add_argument("--drop-after", type=int)
    parser.add_argument("--data-delay", type=float, default=0)
    parser.add_argument("--log", required=True)
    parser.add_argument("--ready", required=True)
    args = parser.parse_args()
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)
    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")

    context = None
    if args.mode in ("starttls", "tls"):
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)

    rejects = {}
    for item in args.reject:
        address, code = item.rsplit("=", 1)
        rejects[address.lower()] = code
    handler = Recorder(args.log, rejects, args.pipelining, args.drop_after, args.data_delay)

    options = {"hostname": "sequencer-test", "auth_require_tls": False}
    if args.auth:
        user, password = args.auth.split(":", 1)
        options.update(authenticator=make_authenticator(user, password), auth_required=True)

    loop = asyncio.get_running_loop()
    if args.mode == "silent":
        server = await loop.create_server(Silent, "127.0.0.1", 0)
    elif args.mode == "starttls":
        server = await loop.create_server(
            lambda: SMTP(handler, tls_context=context, require_starttls=True, **options), "127.0.0.1", 0)
    elif args.mode == "tls":
        server = await loop.create_server(lambda: SMTP(handler, **options), "127.0.0.1", 0, ssl=context)
    else:
        server = await loop.create_server(lambda: SMTP(handler, **options), "127.0.0.1", 0)

    port = server.sockets[0].getsockname()[1]
    open(args.log, "a").close()
    with open(args.ready + ".tmp", "w") as ready:
        json.dump({"port": port}, ready)
    os.replace(args.ready + ".tmp", args.ready)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
