"""Keys live outside the data and the repository; encrypted files reveal nothing and detect tampering."""

from __future__ import annotations

import os
import stat

import pytest

from privacy.encryption import decrypt_bytes, encrypt_bytes, encrypt_file, read_encrypted, write_encrypted
from privacy.errors import CorruptFileError, KeyProblem, WrongKeyError
from privacy.keys import Key, create_missing_keys, encryption_key, hmac_key
from tests.privacy.lake import privacy_config
from warehouse.config import REPO_ROOT

SECRET = "jane.doe@example.com,+8613800138000,王芳"


@pytest.fixture
def no_key_env(monkeypatch):
    monkeypatch.delenv("CDP_HMAC_KEY", raising=False)
    monkeypatch.delenv("CDP_ENCRYPTION_KEY", raising=False)


def key_files_config(tmp_path, folder):
    return privacy_config(
        tmp_path / "data",
        keys={"hmac_file": str(folder / "hmac.key"), "encryption_file": str(folder / "encryption.key")},
    )


def test_a_missing_key_is_a_clear_error_naming_both_ways_to_provide_it(tmp_path, no_key_env):
    config = key_files_config(tmp_path, tmp_path / "keys")
    with pytest.raises(
        KeyProblem, match=r"no HMAC key: set \$CDP_HMAC_KEY or create the key file .*hmac.key"
    ):
        hmac_key(config)


def test_init_keys_creates_private_key_files_once_and_never_replaces_them(tmp_path, no_key_env):
    config = key_files_config(tmp_path, tmp_path / "keys")
    first = create_missing_keys(config)
    assert all(outcome.startswith("created") for outcome in first.values())
    path = tmp_path / "keys" / "encryption.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = encryption_key(config)
    assert all(outcome.startswith("kept") for outcome in create_missing_keys(config).values())
    assert encryption_key(config) == key and len(hmac_key(config).material) == 32


@pytest.mark.parametrize("inside", ["data root", "repository"])
def test_key_files_inside_the_data_root_or_the_repository_are_refused(tmp_path, no_key_env, inside):
    folder = tmp_path / "data" / "keys" if inside == "data root" else REPO_ROOT / ".cdp_test_keys"
    config = key_files_config(tmp_path, folder)
    with pytest.raises(KeyProblem, match=f"inside the {inside}"):
        hmac_key(config)
    assert not folder.exists()


def test_a_key_file_readable_by_others_is_refused(tmp_path, no_key_env):
    config = key_files_config(tmp_path, tmp_path / "keys")
    create_missing_keys(config)
    os.chmod(tmp_path / "keys" / "hmac.key", 0o644)
    with pytest.raises(KeyProblem, match="readable by other users"):
        hmac_key(config)


def test_the_environment_beats_the_key_file_and_a_short_key_is_refused(tmp_path, monkeypatch):
    config = key_files_config(tmp_path, tmp_path / "missing")
    monkeypatch.setenv("CDP_HMAC_KEY", "too-short")
    with pytest.raises(KeyProblem, match="at least 32"):
        hmac_key(config)
    monkeypatch.setenv("CDP_ENCRYPTION_KEY", "bm90IDMyIGJ5dGVz")
    with pytest.raises(KeyProblem, match="exactly 32"):
        encryption_key(config)


def test_encrypted_bytes_do_not_contain_the_plaintext_and_decrypt_back():
    key = Key(os.urandom(32), "test")
    sealed = encrypt_bytes(SECRET.encode() * 1000, key)
    for fragment in ("jane.doe", "13800138000", "王芳"):
        for encoding in ("utf-8", "gbk"):
            assert fragment.encode(encoding) not in sealed
    assert decrypt_bytes(sealed, key) == SECRET.encode() * 1000


def test_large_files_are_encrypted_in_chunks_and_roundtrip(tmp_path):
    key = Key(os.urandom(32), "test")
    plain = tmp_path / "plain.bin"
    plain.write_bytes(os.urandom(3 * 4096 + 17))
    encrypt_file(plain, tmp_path / "sealed.enc", key, chunk_bytes=4096)
    assert read_encrypted(tmp_path / "sealed.enc", key) == plain.read_bytes()


def test_a_wrong_key_is_reported_as_a_wrong_key(tmp_path):
    write_encrypted(SECRET.encode(), tmp_path / "x.enc", Key(os.urandom(32), "right"))
    with pytest.raises(WrongKeyError, match=r"encrypted with key .* but the configured key \(wrong\)"):
        read_encrypted(tmp_path / "x.enc", Key(os.urandom(32), "wrong"))


@pytest.mark.parametrize("damage", ["flip a byte", "truncate", "drop the last chunk"])
def test_tampering_is_detected_not_decrypted_to_garbage(tmp_path, damage):
    key = Key(os.urandom(32), "test")
    plain = tmp_path / "plain.bin"
    plain.write_bytes(os.urandom(2 * 4096 + 100))
    encrypt_file(plain, tmp_path / "x.enc", key, chunk_bytes=4096)
    data = bytearray((tmp_path / "x.enc").read_bytes())
    if damage == "flip a byte":
        data[60] ^= 1
    elif damage == "truncate":
        data = data[:-5]
    else:
        data = data[: len(data) - (100 + 16)]
    (tmp_path / "x.enc").write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match="failed authentication"):
        read_encrypted(tmp_path / "x.enc", key)


def test_the_restricted_mart_is_encrypted_at_rest(published_lake):
    sealed = (published_lake.root / "restricted" / "activation_lists.parquet.enc").read_bytes()
    assert b"PAR1" not in sealed and b"@example" not in sealed
