"""Deliver one message: SMTP (``none`` / ``starttls`` / ``ssl``, optional AUTH) or Amazon SES
(boto3 SESv2 ``send_email`` with raw content; the standard credential chain; an endpoint
override for a test server). The password comes from the environment variable the
configuration names, read by the caller at the edge and passed in; it is never logged."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from types import TracebackType
from typing import Any, Protocol

from costlens.config import MailSettings
from costlens.errors import MailError

__all__ = ["Delivery", "SesTransport", "SmtpTransport", "Transport", "open_transport"]


@dataclass(frozen=True)
class Delivery:
    """What the server said: the recipients it refused, each with its answer."""

    refused: dict[str, str] = field(default_factory=dict)


class Transport(Protocol):
    """Sends one message to its recipients; raises ``MailError`` with the server's answer."""

    def send(self, msg: EmailMessage, recipients: Sequence[str]) -> Delivery: ...

    def close(self) -> None: ...


def _answer(code: int, text: bytes | str) -> str:
    body = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return f"{code} {' '.join(body.split())}"


class SmtpTransport:
    """One SMTP connection, opened on first use, reopened after a server hang-up."""

    def __init__(
        self, mail: MailSettings, password: str | None, context: ssl.SSLContext | None = None
    ) -> None:
        self._mail = mail
        self._password = password
        self._context = context or ssl.create_default_context()
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        m = self._mail
        try:
            smtp: smtplib.SMTP
            if m.security == "ssl":
                smtp = smtplib.SMTP_SSL(
                    m.host, m.port, timeout=m.timeout_seconds, context=self._context
                )
            else:
                smtp = smtplib.SMTP(m.host, m.port, timeout=m.timeout_seconds)
                if m.security == "starttls":
                    smtp.starttls(context=self._context)
            if m.username:
                smtp.login(m.username, self._password or "")
        except smtplib.SMTPResponseException as exc:
            raise MailError(
                f"SMTP server {m.host}:{m.port} refused the session: "
                f"{_answer(exc.smtp_code, exc.smtp_error)}",
                where="[mail]",
                fix="check [mail] host, port, security, username and the password variable",
            ) from None
        except ssl.SSLCertVerificationError as exc:
            raise MailError(
                f"SMTP server {m.host}:{m.port}: its TLS certificate is not trusted "
                f"({exc.verify_message})",
                where="[mail]",
                fix="add the server's CA to the system's trust store, or point SSL_CERT_FILE "
                "at a bundle that holds it",
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(
                f"cannot reach SMTP server {m.host}:{m.port} ({exc})",
                where="[mail]",
                fix="check [mail] host, port and security (none, starttls or ssl)",
            ) from None
        return smtp

    def send(self, msg: EmailMessage, recipients: Sequence[str]) -> Delivery:
        """Send ``msg`` to ``recipients``; the refused ones come back, all refused raises."""
        if self._smtp is None:
            self._smtp = self._connect()
        try:
            refused = self._smtp.send_message(msg, to_addrs=list(recipients))
        except smtplib.SMTPRecipientsRefused as exc:
            answers = {r: _answer(c, t) for r, (c, t) in exc.recipients.items()}
            raise MailError(
                "; ".join(f"{r}: {a}" for r, a in answers.items()),
                where="recipients",
                fix="correct the address in owners.yaml or ask the mail admin",
            ) from None
        except smtplib.SMTPResponseException as exc:
            self.close()
            raise MailError(
                _answer(exc.smtp_code, exc.smtp_error), where="[mail]", fix="see the answer"
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise MailError(f"SMTP failure ({exc})", where="[mail]", fix="run again") from None
        return Delivery({r: _answer(c, t) for r, (c, t) in refused.items()})

    def close(self) -> None:
        """Say QUIT (or just drop a broken connection)."""
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (OSError, smtplib.SMTPException):
                self._smtp.close()
            self._smtp = None

    def __enter__(self) -> SmtpTransport:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class SesTransport:
    """Amazon SES v2 ``SendEmail`` with the raw MIME message."""

    def __init__(self, mail: MailSettings, client: Any = None) -> None:
        if client is None:
            import boto3

            client = boto3.client(
                "sesv2", region_name=mail.ses_region, endpoint_url=mail.ses_endpoint_url
            )
        self._client = client

    def send(self, msg: EmailMessage, recipients: Sequence[str]) -> Delivery:
        """Send through SES; an error answer raises ``MailError`` with SES's code and text."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.send_email(
                FromEmailAddress=str(msg["From"].addresses[0].addr_spec),
                Destination={"ToAddresses": list(recipients)},
                Content={"Raw": {"Data": msg.as_bytes()}},
            )
        except ClientError as exc:
            err = exc.response.get("Error", {})
            raise MailError(
                f"SES: {err.get('Code', '?')} {err.get('Message', '')}".strip(),
                where="[mail] transport ses",
                fix="verify the sender identity in SES, or leave the SES sandbox",
            ) from None
        except BotoCoreError as exc:
            raise MailError(
                f"SES: {exc}", where="[mail] transport ses", fix="check ses_region"
            ) from None
        return Delivery()

    def close(self) -> None:
        """Nothing to close."""


def open_transport(mail: MailSettings, password: str | None) -> Transport:
    """The transport ``[mail] transport`` names."""
    if mail.transport == "ses":
        return SesTransport(mail)
    return SmtpTransport(mail, password)
