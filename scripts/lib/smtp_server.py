"""A real SMTP submission server on loopback for the tests (aiosmtpd):
STARTTLS required before AUTH and before any mail, AUTH PLAIN/LOGIN against
one user, every accepted message written to MAILDIR as an .eml file, with
a companion .json: the envelope, whether TLS and AUTH were on, and the
decoded subject, headers and text (what a mail client would show). Started and stopped by
scripts/with-smtp.sh."""
import argparse
import asyncio
import email
import email.policy
import json
import os
import ssl
import uuid

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Saver:
    def __init__(self, maildir):
        self.maildir = maildir

    async def handle_DATA(self, server, session, envelope):
        name = uuid.uuid4().hex
        with open(os.path.join(self.maildir, name + ".eml.tmp"), "wb") as f:
            f.write(envelope.original_content or envelope.content)
        parsed = email.message_from_bytes(envelope.original_content or envelope.content,
                                          policy=email.policy.default)
        body = parsed.get_body(preferencelist=("plain",))
        with open(os.path.join(self.maildir, name + ".json"), "w") as f:
            json.dump({"from": envelope.mail_from, "to": envelope.rcpt_tos,
                       "tls": session.ssl is not None,
                       "authenticated": session.authenticated,
                       "subject": str(parsed["subject"]),
                       "header_from": str(parsed["from"]),
                       "header_to": str(parsed["to"]),
                       "text": body.get_content() if body is not None else None}, f)
        os.rename(os.path.join(self.maildir, name + ".eml.tmp"),
                  os.path.join(self.maildir, name + ".eml"))
        return "250 OK"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--maildir", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    a = p.parse_args()
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(a.cert, a.key)

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword)
              and auth_data.login.decode() == a.user
              and auth_data.password.decode() == a.password)
        # handled=False: aiosmtpd answers a refusal itself (535).
        return AuthResult(success=ok, handled=False)

    controller = Controller(
        Saver(a.maildir), hostname="127.0.0.1", port=a.port,
        tls_context=tls, require_starttls=True,
        authenticator=authenticator, auth_required=True,
        auth_require_tls=True,
    )
    controller.start()
    print("smtp ready", flush=True)
    try:
        asyncio.get_event_loop().run_forever()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
