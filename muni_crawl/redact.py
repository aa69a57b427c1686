"""Personal data out of questions before they are logged, stored, embedded or sent anywhere.

CPR numbers (DDMMYY-XXXX, with or without the dash or a space), Danish phone numbers
(8 digits, grouped or not, with +45 / 0045 / (+45) prefixes) and e-mail addresses are replaced
by placeholders the answer pipeline treats as plain words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CPR_TOKEN = "[CPR-NUMMER]"
PHONE_TOKEN = "[TELEFONNUMMER]"
EMAIL_TOKEN = "[E-MAIL]"

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
# DDMMYY-XXXX with the dash is always a CPR number; without it, the day 01-31 and the month
# 01-12 keep ordinary 10-digit numbers (order numbers, amounts) apart
_CPR = re.compile(
    r"(?<![\d])(?:\d{6}-\d{4}|(?:0[1-9]|[12]\d|3[01])(?:0[1-9]|1[0-2])\d{2}\s?\d{4})(?![\d])"
)
# optional +45 / 0045 / (+45), then 8 digits as 8, 4+4, 2+2+2+2 or 2+3+3 groups
_PHONE = re.compile(
    r"(?<![\d+])(?:(?:\+|00)\s?45[\s-]?|\(\+?45\)\s?)?"
    r"(?:\d{8}|\d{4}[\s-]\d{4}|\d{2}(?:[\s-]\d{2}){3}|\d{2}[\s-]\d{3}[\s-]\d{3})(?![\d])"
)


@dataclass(frozen=True)
class Redaction:
    """The redacted text and how many of each kind were removed."""

    text: str
    cpr: int = 0
    phone: int = 0
    email: int = 0

    @property
    def count(self) -> int:
        return self.cpr + self.phone + self.email

    @property
    def search_text(self) -> str:
        """The text without placeholders: they are no evidence of topic and skew retrieval."""
        text = self.text
        for token in (CPR_TOKEN, PHONE_TOKEN, EMAIL_TOKEN):
            text = text.replace(token, " ")
        return " ".join(text.split())


def redact(text: str) -> Redaction:
    """Replace CPR numbers, Danish phone numbers and e-mail addresses with placeholders."""
    text, emails = _EMAIL.subn(EMAIL_TOKEN, text)
    text, cprs = _CPR.subn(CPR_TOKEN, text)
    text, phones = _PHONE.subn(PHONE_TOKEN, text)
    return Redaction(text=text, cpr=cprs, phone=phones, email=emails)
