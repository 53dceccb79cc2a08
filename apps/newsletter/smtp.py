"""SMTP in two steps, so that a campaign's send log can be committed between them.

smtplib's sendmail() sends MAIL, RCPT, DATA, the message and the final "\\r\\n.\\r\\n" in one call; the server takes
responsibility for the message when it reads that final dot. Here the message goes without its final dot
(`transmit`), the caller commits the delivery as sent, and only then is the dot written and the reply read
(`finish`). A process killed before the commit leaves a message the server never accepted (RFC 5321 §4.1.1.4: a
transaction without its terminating dot is discarded when the connection drops) and a delivery still `sending`: it is
sent again, once. Killed after the commit and before the dot's write, it leaves a delivery marked sent that was not:
that window is one syscall wide.

The connection is opened by the configured Django mailer (MAILERS, from EMAIL__*: host, port, STARTTLS or implicit
TLS, credentials, timeout), then driven with smtplib's own commands."""

from __future__ import annotations

import email.policy
import re
import smtplib
import socket
from typing import Any

from django.core.mail import EmailMessage
from django.core.mail.backends.smtp import EmailBackend as SmtpEmailBackend

CRLF = b"\r\n"
# RFC 5321 §4.5.2: a line that starts with a dot gets one more.
LEADING_DOT = re.compile(rb"(?m)^\.")


class SmtpRefused(Exception):
    """The server answered a command with an error: `permanent` for 5xx (the address or message will not be taken),
    else 4xx (try again later). Nothing was accepted."""

    def __init__(self, code: int, reply: bytes | str, *, stage: str) -> None:
        self.code = code
        self.reply = reply.decode(errors="replace") if isinstance(reply, bytes) else reply
        self.stage = stage
        super().__init__(f"{stage} refused: {code} {self.reply}")

    @property
    def permanent(self) -> bool:
        return 500 <= self.code < 600


class SmtpOutcomeUnknown(Exception):
    """The connection failed after the final dot was due: the server may or may not have taken the message."""


class SmtpConnection:
    """One connection to the mailer's SMTP server, kept open across messages (reopened after a failure)."""

    def __init__(self, backend: SmtpEmailBackend) -> None:
        self.backend = backend
        # A message went without its final dot: the server reads every line as the message's until the dot.
        self.in_data = False

    @property
    def connection(self) -> smtplib.SMTP:
        if self.backend.connection is None:
            self.backend.open()
            opened = self.backend.connection
            if opened is not None and opened.sock is not None:
                # The final dot is a write of its own, after the message: with Nagle's algorithm it would wait for
                # the server's delayed ACK of the message (40 ms on Linux) before leaving, for every message.
                opened.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection = self.backend.connection
        if connection is None:  # open() failed silently: only with fail_silently, which the mailers never set
            raise smtplib.SMTPServerDisconnected("the mail server could not be reached")
        return connection

    def envelope(self, message: EmailMessage) -> tuple[str, str, bytes]:
        """The envelope sender, the one recipient and the message's bytes, as Django's SMTP backend makes them."""
        sender = self.backend.prep_address(message.from_email)
        [recipient] = [self.backend.prep_address(address) for address in message.recipients()]
        return sender, recipient, message.message(policy=email.policy.SMTP).as_bytes()

    def transmit(self, sender: str, recipient: str, data: bytes) -> None:
        """MAIL, RCPT, DATA and the message, all but its final dot. Raises SmtpRefused (the transaction is reset, the
        connection kept) or a connection error (smtplib.SMTPServerDisconnected, OSError: the connection is dropped)."""
        connection = self.connection
        try:
            connection.ehlo_or_helo_if_needed()
            options = [f"size={len(data)}"] if connection.does_esmtp and connection.has_extn("size") else []
            code, reply = connection.mail(sender, options)
            if code != 250:
                self._refused(code, reply, stage="MAIL FROM")
            code, reply = connection.rcpt(recipient)
            if code not in (250, 251):
                self._refused(code, reply, stage="RCPT TO")
            connection.putcmd("data")
            code, reply = connection.getreply()
            if code != 354:
                self._refused(code, reply, stage="DATA")
            body = LEADING_DOT.sub(b"..", data)
            if not body.endswith(CRLF):
                body += CRLF
            self.in_data = True
            connection.send(body)
        except (smtplib.SMTPServerDisconnected, OSError):
            self.drop()
            raise

    def finish(self) -> None:
        """The final dot, and the server's verdict: SmtpRefused for an error reply (nothing was accepted),
        SmtpOutcomeUnknown when the connection fails meanwhile."""
        connection = self.connection
        try:
            connection.send(b"." + CRLF)
            self.in_data = False
            code, reply = connection.getreply()
        except (smtplib.SMTPServerDisconnected, OSError) as error:
            self.drop()
            raise SmtpOutcomeUnknown(f"the connection failed after the message was sent: {error}") from error
        if code != 250:
            raise SmtpRefused(code, reply, stage="end of DATA")

    def _refused(self, code: int, reply: bytes, *, stage: str) -> None:
        if code == 421:  # the server is closing the connection
            self.drop()
        else:
            self._reset()
        raise SmtpRefused(code, reply, stage=stage)

    def _reset(self) -> None:
        try:
            self.connection.rset()
        except (smtplib.SMTPException, OSError):
            self.drop()

    def drop(self) -> None:
        """Forget a connection that failed: the next message opens a new one."""
        connection = self.backend.connection
        self.backend.connection = None
        self.in_data = False
        if connection is not None:
            connection.close()

    def close(self) -> None:
        if self.in_data:  # a QUIT would be taken for a line of the message: the socket closes, the message is dropped
            self.drop()
            return
        try:
            self.backend.close()
        except (smtplib.SMTPException, OSError):
            self.drop()

    def __enter__(self) -> SmtpConnection:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()
