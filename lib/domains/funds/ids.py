"""Identity numbers and accounts of payees: checked, hashed and encrypted, never kept in clear.

A person's 18-digit resident identity number (GB 11643, with its check digit) or an enterprise's
18-character unified social credit code (GB 32100) identifies a payee; a bank or social-security
card number identifies an account. Only their keyed hashes (`lib.privacy.matcher`) are compared,
and only their ciphertext is kept, for an inspector to read (each reading audited). Messages about
a bad number never repeat the number.
"""

from __future__ import annotations

import re

from lib import privacy

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_PERSON = re.compile(r"^\d{17}[\dX]$")
_CREDIT = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")
_ACCOUNT = re.compile(r"^\d{12,30}$")


def normalize(value: str) -> str:
    return "".join(str(value).split()).upper()


def check_digit(first17: str) -> str:
    return _CHECK[sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def kind_of(value: str) -> str | None:
    """'person', 'enterprise', or None when the number is neither (no message repeats it)."""
    v = normalize(value)
    if _PERSON.match(v) and check_digit(v[:17]) == v[17]:
        return "person"
    if _CREDIT.match(v) and not v.isdigit():
        return "enterprise"
    if _CREDIT.match(v) and v[:2] in ("91", "92", "93", "12", "11", "51", "52", "53"):
        return "enterprise"
    return None


def account_ok(value: str) -> bool:
    return bool(_ACCOUNT.match(normalize(value)))


class Hasher:
    """Keyed hashes of identity numbers, accounts and household numbers (one key read)."""

    def __init__(self) -> None:
        self.payee = privacy.matcher("payee")
        self.account = privacy.matcher("account")
        self.household = privacy.matcher("household")


def encrypt(value: str) -> str:
    return privacy.encrypt(normalize(value))


def masked_name(name: str | None) -> str:
    """陈伟强 → 陈**；an enterprise keeps its first four characters (广东海湾****)."""
    if not name:
        return ""
    if len(name) > 6:
        return name[:4] + "*" * min(4, len(name) - 4)
    return name[0] + "*" * (len(name) - 1)
