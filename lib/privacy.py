"""Encryption at rest of reporters' names and contacts (Fernet: AES-128-CBC + HMAC-SHA256).

The key comes from `.streamlit/secrets.toml` (`[privacy] key`) or the PRIVACY_KEY environment
variable; a demo install generates one into data/privacy_key (mode 0600, untracked). With
APP_ENV=production a missing key is refused: personal data is never stored in clear.
"""

from __future__ import annotations

import hashlib
import os
import re
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken

from lib import config

KEY_FILE = config.DATA_DIR / "privacy_key"


class PrivacyConfigError(RuntimeError):
    pass


_configured: str | None = None


def configure(secret_value: str | None) -> None:
    """The key from the app's secrets (`[privacy] key`), if it has one."""
    global _configured
    _configured = secret_value or None


def check() -> None:
    """Raise PrivacyConfigError now rather than on the first submission."""
    _fernet(_key())


def _key(secret_value: str | None = None) -> bytes:
    key = (secret_value or _configured or os.environ.get("PRIVACY_KEY") or "").strip()
    if key:
        return key.encode()
    if config.is_production():
        raise PrivacyConfigError(
            "生产环境（APP_ENV=production）必须配置个人信息加密密钥：在 .streamlit/secrets.toml 的 "
            "[privacy] key 或环境变量 PRIVACY_KEY 中设置（Fernet 密钥，可用 "
            "python -c \"from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())\" 生成）。")
    if KEY_FILE.exists():
        return KEY_FILE.read_bytes().strip()
    KEY_FILE.parent.mkdir(parents=True, exist_ok=True)
    key_bytes = Fernet.generate_key()
    fd = os.open(KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key_bytes)
    return key_bytes


@lru_cache(maxsize=4)
def _fernet(key: bytes) -> Fernet:
    try:
        return Fernet(key)
    except ValueError as exc:
        raise PrivacyConfigError("个人信息加密密钥格式无效（须为 Fernet 密钥）") from exc


def encrypt(text: str | None, secret_value: str | None = None) -> str | None:
    if not text:
        return None
    return _fernet(_key(secret_value)).encrypt(text.encode("utf-8")).decode("ascii")


def decrypt(token: str | None, secret_value: str | None = None) -> str | None:
    if not token:
        return None
    try:
        return _fernet(_key(secret_value)).decrypt(token.encode("ascii")).decode("utf-8")
    except InvalidToken:
        return "（无法解密：密钥已更换或数据损坏）"


def visitor_address(peer: str | None, real_ip: str | None) -> str | None:
    """The visitor's address from the connection's peer and the proxy's X-Real-IP header.

    Behind the reverse proxy of docs/deploy.md every connection comes from the local nginx, a
    loopback address (127.0.0.1, or ::ffff:127.0.0.1 on a dual-stack socket): then, and only
    then, the header nginx sets is the visitor's. Any other peer is the visitor itself (a
    remote client cannot forge its address with the header). None when nothing is known."""
    import ipaddress

    def loopback(text: str) -> bool:
        try:
            addr = ipaddress.ip_address(text.strip().split("%", 1)[0])
        except ValueError:
            return False
        mapped = getattr(addr, "ipv4_mapped", None)
        return (mapped or addr).is_loopback

    peer = (peer or "").strip()
    if peer and not loopback(peer):
        return peer
    real = (real_ip or "").strip()
    return real or None


def source_hash(ip: str | None) -> str | None:
    """A salted hash of the submitter's address, kept only to rate-limit submissions."""
    if not ip:
        return None
    return hashlib.sha256(_key() + b"|" + ip.encode()).hexdigest()


def matcher(purpose: str):
    """A keyed hash (HMAC-SHA256 under the privacy key) of identifiers of one kind — identity
    numbers, bank accounts, household numbers — so that records can be matched (the same payee
    paid twice, one account for several payees, a payee in the register of deaths) without the
    number ever being stored in clear. Spaces are ignored and letters upper-cased (an identity
    number's final x). The key is read once per matcher; a changed key changes every hash."""
    import hmac

    key = hashlib.sha256(b"match|" + _key()).digest()
    prefix = purpose.encode() + b"|"

    def digest(value: str) -> str:
        norm = "".join(str(value).split()).upper()
        return hmac.new(key, prefix + norm.encode("utf-8"), hashlib.sha256).hexdigest()

    return digest


def match_hash(value: str, purpose: str) -> str:
    """One keyed hash (see `matcher`)."""
    return matcher(purpose)(value)


def encryptor():
    """`encrypt` for many values at once (the key read once)."""
    f = _fernet(_key())

    def enc(text: str) -> str:
        return f.encrypt(text.encode("utf-8")).decode("ascii")

    return enc


# Numbers that identify a person, for free-text fields that must not hold them: a resident
# identity card's number (18 characters, the last a digit or X; 15 digits for the old cards)
# and a mobile phone number, each standing alone (not inside a longer run of digits).
_PERSONAL_NUMBERS = (
    ("身份证号", re.compile(r"(?<![0-9])[1-9][0-9]{5}(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])"
                         r"(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9Xx](?![0-9A-Za-z])")),
    ("身份证号", re.compile(r"(?<![0-9])[1-9][0-9]{7}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])"
                         r"[0-9]{3}(?![0-9])")),
    ("手机号", re.compile(r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])")),
)


def personal_numbers(text: str | None) -> list[str]:
    """What kinds of personal numbers the text holds ("身份证号", "手机号"), each once."""
    found: list[str] = []
    for kind, pattern in _PERSONAL_NUMBERS:
        if kind not in found and pattern.search(text or ""):
            found.append(kind)
    return found
