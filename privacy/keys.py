"""The two secrets: the HMAC key behind every pseudonym and the AES-256 key for encryption at rest.

A key that sits next to the data it protects protects nothing, so a key file must live outside the
data root and outside the repository, readable by its owner only. An environment variable beats the
file (containers and Airflow inject secrets that way). A missing key is an error with the command
that creates one; nothing ever falls back to a built-in key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from privacy.errors import KeyProblem
from privacy.settings import PrivacySettings, config_path, load_settings
from warehouse.config import REPO_ROOT, CdpConfig

AES_KEY_BYTES = 32  # AES-256


@dataclass(frozen=True)
class Key:
    """Key material plus where it came from (for error messages, never the material itself)."""

    material: bytes
    origin: str

    @property
    def key_id(self) -> str:
        """A short public fingerprint: tells a wrong key from a corrupt file without revealing the key."""
        return hashlib.sha256(b"cdp-key-id:" + self.material).hexdigest()[:16]


def hmac_key(config: CdpConfig, settings: PrivacySettings | None = None) -> Key:
    settings = settings or load_settings(config)
    key = _load(config, settings.keys.hmac_env, settings.keys.hmac_file, "HMAC")
    if len(key.material) < settings.keys.min_hmac_bytes:
        raise KeyProblem(
            f"the HMAC key from {key.origin} has {len(key.material)} bytes; at least "
            f"{settings.keys.min_hmac_bytes} are needed (create one with `cdp privacy init-keys`)"
        )
    return key


def encryption_key(config: CdpConfig, settings: PrivacySettings | None = None) -> Key:
    settings = settings or load_settings(config)
    key = _load(config, settings.keys.encryption_env, settings.keys.encryption_file, "encryption")
    if len(key.material) != AES_KEY_BYTES:
        raise KeyProblem(
            f"the encryption key from {key.origin} has {len(key.material)} bytes; AES-256 needs "
            f"exactly {AES_KEY_BYTES} (base64-encoded in the file or variable)"
        )
    return key


def key_files(config: CdpConfig, settings: PrivacySettings | None = None) -> dict[str, Path]:
    settings = settings or load_settings(config)
    return {
        "hmac": config_path(config, settings.keys.hmac_file),
        "encryption": config_path(config, settings.keys.encryption_file),
    }


def create_missing_keys(config: CdpConfig) -> dict[str, str]:
    """Write a fresh random key for every key file that does not exist yet (mode 0600).

    Existing keys are never replaced: a new HMAC key would change every pseudonym and orphan the
    suppression list, a new encryption key would make every encrypted file unreadable.
    """
    outcome: dict[str, str] = {}
    for name, path in key_files(config).items():
        check_location(config, path)
        if path.exists():
            outcome[name] = f"kept {path}"
            continue
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(base64.b64encode(os.urandom(AES_KEY_BYTES)).decode("ascii") + "\n")
        outcome[name] = f"created {path}"
    return outcome


def check_location(config: CdpConfig, path: Path) -> None:
    """Refuse key files inside the data root or the repository: backups and commits would copy them."""
    resolved = path.resolve()
    for forbidden, what in [(config.data_root.resolve(), "the data root"), (REPO_ROOT, "the repository")]:
        if resolved == forbidden or forbidden in resolved.parents:
            raise KeyProblem(
                f"key file {resolved} is inside {what} ({forbidden}); keep keys outside both "
                "(default ~/.config/cdp/) so that backups, exports and commits never carry them"
            )


def _load(config: CdpConfig, env: str, file_setting: str, what: str) -> Key:
    value = os.environ.get(env)
    if value:
        return Key(_decode(value.strip(), f"${env}"), f"${env}")
    path = config_path(config, file_setting)
    check_location(config, path)
    if not path.is_file():
        raise KeyProblem(
            f"no {what} key: set ${env} or create the key file {path} "
            "(`cdp privacy init-keys` writes one with a random key, mode 0600)"
        )
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise KeyProblem(
            f"key file {path} is readable by other users (mode {mode:o}); run `chmod 600 {path}`"
        )
    return Key(_decode(path.read_text(encoding="ascii", errors="replace").strip(), str(path)), str(path))


def _decode(text: str, origin: str) -> bytes:
    """Key files hold base64; a long plain passphrase in a variable is accepted as its bytes."""
    if not text:
        raise KeyProblem(f"the key in {origin} is empty")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return text.encode("utf-8")
