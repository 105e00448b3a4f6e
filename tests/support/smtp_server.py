#!/usr/bin/python3
"""A real SMTP server on loopback for the email tests (Debian's python3-aiosmtpd).

Listens on 127.0.0.1 at a free port and prints "ready PORT" on stdout once it accepts
connections. Each message it accepts becomes DIR/NNNNNN.json (written to a temporary name
and renamed, so a reader never sees half a file):
  {"mail_from": ..., "rcpt_tos": [...], "raw": <the DATA as received, UTF-8>,
   "headers": {name: decoded value, ...}, "body": <decoded text body>,
   "tls": bool, "auth_user": str or null}
The headers and body are decoded with Python's email package (RFC 2047, quoted-printable),
independently of the sender under test.

Options: --cert/--key offer STARTTLS with that certificate (--require-starttls refuses MAIL
before it; --implicit-tls speaks TLS from the first byte, smtps); --user/--password require
AUTH (PLAIN or LOGIN); --reject-rcpt ADDR answers 550 to RCPT TO:<ADDR>; --tempfail-rcpt ADDR
answers 451. Stops on SIGTERM, SIGINT, or when its stdin closes (the test process died).
"""
import argparse
import asyncio
import email
import email.policy
import json
import os
import signal
import ssl
import warnings

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Handler:
    def __init__(self, args):
        self.args = args
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.args.reject_rcpt:
            return "550 5.1.1 <%s>: mailbox unavailable" % address
        if address in self.args.tempfail_rcpt:
            return "451 4.3.0 <%s>: try again later" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        body = msg.get_body(preferencelist=("plain",))
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "raw": raw.decode("utf-8", errors="replace"),
            "headers": {k: str(v) for k, v in msg.items()},
            "body": body.get_content() if body is not None else "",
            "tls": session.ssl is not None or self.args.implicit_tls,
            "auth_user": (session.auth_data.login.decode()
                          if isinstance(session.auth_data, LoginPassword) else None),
        }
        self.count += 1
        name = os.path.join(self.args.dir, "%06d.json" % self.count)
        with open(name + ".tmp", "w", encoding="utf-8") as f:
            json.dump(record, f)
        os.rename(name + ".tmp", name)
        return "250 2.0.0 accepted"


def authenticator(args):
    def check(server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword)
              and auth_data.login.decode() == args.user
              and auth_data.password.decode() == args.password)
        if ok:
            return AuthResult(success=True, auth_data=auth_data)
        return AuthResult(success=False, handled=False)  # answer 535
    return check


def tls_context(args):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(args.cert, args.key)
    return ctx


async def serve(args):
    handler = Handler(args)
    ctx = tls_context(args) if args.cert else None
    auth = args.user is not None

    def factory():
        return SMTP(
            handler,
            hostname="tally-test-smtp",
            tls_context=None if args.implicit_tls else ctx,
            require_starttls=args.require_starttls,
            authenticator=authenticator(args) if auth else None,
            auth_required=auth,
            auth_require_tls=False,
        )

    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        factory, host="127.0.0.1", port=0, ssl=ctx if args.implicit_tls else None)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    def on_stdin():
        if not os.read(0, 4096):  # EOF: whoever started us is gone
            loop.remove_reader(0)
            stop.set()

    try:
        loop.add_reader(0, on_stdin)
    except (OSError, ValueError):
        pass  # stdin is not a pipe (a file, /dev/null): SIGTERM only
    print("ready %d" % server.sockets[0].getsockname()[1], flush=True)
    await stop.wait()
    server.close()
    await server.wait_closed()


def main():
    # AUTH without TLS is what the plain-text AUTH test wants; do not warn about it.
    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dir", required=True, help="where received messages are written")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--require-starttls", action="store_true")
    p.add_argument("--implicit-tls", action="store_true")
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--reject-rcpt", action="append", default=[])
    p.add_argument("--tempfail-rcpt", action="append", default=[])
    args = p.parse_args()
    if (args.require_starttls or args.implicit_tls) and not args.cert:
        p.error("TLS needs --cert and --key")
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
