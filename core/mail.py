"""Outgoing e-mail over SMTP (aiosmtplib), configured by the `GPTSTORE_SMTP_*` settings."""

from __future__ import annotations

import logging
from email.message import EmailMessage

import aiosmtplib

from core.errors import ProviderError
from core.settings import Settings

logger = logging.getLogger("gptstore")


def mail_configured(settings: Settings) -> bool:
    """Whether e-mail can be sent (`GPTSTORE_SMTP_HOST` is set)."""
    return bool(settings.smtp_host)


async def send_mail(settings: Settings, to: str, subject: str, text: str) -> None:
    """Send one plain-text message; a refused or unreachable server is a 502 naming the SMTP server."""
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = to
    message["Subject"] = subject
    message.set_content(text)
    try:
        await aiosmtplib.send(
            message,
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            use_tls=settings.smtp_security == "tls",
            start_tls=True if settings.smtp_security == "starttls" else False,
            timeout=settings.smtp_timeout_seconds,
        )
    except (aiosmtplib.SMTPException, OSError) as exc:
        logger.warning("e-mail to the SMTP server %s failed: %s", settings.smtp_host, exc)
        raise ProviderError(f"The e-mail could not be sent through the SMTP server: {exc}") from None
