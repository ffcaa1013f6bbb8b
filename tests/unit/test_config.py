"""Configuration: defaults, and a clear error naming each bad variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.config import ConfigError, load_settings


def base_env(tmp_path: Path) -> dict[str, str]:
    return {"TIDINGS_DATA_DIR": str(tmp_path), "TIDINGS_SECRET_KEY": "x" * 32}


def test_unset_variables_mean_the_embedded_defaults(tmp_path: Path) -> None:
    s = load_settings({"TIDINGS_DATA_DIR": str(tmp_path)})
    assert s.database_url == f"sqlite:///{tmp_path / 'tidings.db'}"
    assert s.redis_url == "redis://127.0.0.1:6379/0"
    assert s.redis_url_explicit is False
    assert s.smtp is None and s.smtp_capture is True
    assert s.timezone == "Asia/Shanghai"
    assert s.dkim_enabled is False


def test_a_generated_secret_key_is_kept_in_the_data_dir_and_reused(tmp_path: Path) -> None:
    first = load_settings({"TIDINGS_DATA_DIR": str(tmp_path)}).secret_key
    second = load_settings({"TIDINGS_DATA_DIR": str(tmp_path)}).secret_key
    assert first == second and len(first) >= 32
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_a_postgresql_url_is_pointed_at_psycopg3(tmp_path: Path) -> None:
    s = load_settings(
        {**base_env(tmp_path), "TIDINGS_DATABASE_URL": "postgresql://u@db:5432/tidings"}
    )
    assert s.database_url == "postgresql+psycopg://u@db:5432/tidings"


def test_smtp_urls_are_parsed_with_tls_modes_and_credentials(tmp_path: Path) -> None:
    s = load_settings(
        {
            **base_env(tmp_path),
            "TIDINGS_SMTP_URL": "smtp://me%40x.org:p%3Ass@relay.example:587?starttls=1",
        }
    )
    assert s.smtp is not None
    assert (s.smtp.host, s.smtp.port, s.smtp.username, s.smtp.password) == (
        "relay.example",
        587,
        "me@x.org",
        "p:ss",
    )
    assert s.smtp.starttls and not s.smtp.implicit_tls
    assert "p:ss" not in s.smtp.display and s.smtp_capture is False
    tls = load_settings({**base_env(tmp_path), "TIDINGS_SMTP_URL": "smtps://relay.example"})
    assert tls.smtp is not None and tls.smtp.implicit_tls and tls.smtp.port == 465


@pytest.mark.parametrize(
    ("variable", "value", "fragment"),
    [
        ("TIDINGS_DATABASE_URL", "mysql://x/y", "must start with"),
        ("TIDINGS_REDIS_URL", "http://localhost:6379", "must start with"),
        ("TIDINGS_SMTP_URL", "smtp://", "names no host"),
        ("TIDINGS_SMTP_URL", "smtp://relay:abc", "not a number"),
        ("TIDINGS_SMTP_URL", "smtps://relay?starttls=1", "already uses TLS"),
        ("TIDINGS_SMTP_URL", "imap://relay", "must start with"),
        ("TIDINGS_BASE_URL", "ftp://news.example.org", "must start with"),
        ("TIDINGS_BASE_URL", "https://", "names no host"),
        ("TIDINGS_SECRET_KEY", "short", "at least 16"),
        ("TIDINGS_FROM", "not an address", "not an address"),
        ("TIDINGS_FROM", "Name <a@b.org>\r\nBcc: x@y.org", "not an address"),
        ("TIDINGS_BOUNCE_DOMAIN", "b@x.org", "bare domain"),
        ("TIDINGS_TIMEZONE", "Mars/Olympus", "not a known time zone"),
        ("TIDINGS_DKIM_DOMAIN", "news.example.org", "together"),
        ("TIDINGS_TRUSTED_PROXIES", "two", "number of proxies"),
    ],
)
def test_each_bad_variable_gives_an_error_naming_it(
    tmp_path: Path, variable: str, value: str, fragment: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({**base_env(tmp_path), variable: value})
    message = str(info.value)
    assert message.startswith(f"{variable}:") or info.value.variable.startswith("TIDINGS_DKIM")
    assert fragment in message


def test_a_dkim_key_file_must_exist_and_hold_a_pem_key(tmp_path: Path) -> None:
    dkim = {"TIDINGS_DKIM_DOMAIN": "news.example.org", "TIDINGS_DKIM_SELECTOR": "s1"}
    with pytest.raises(ConfigError, match="TIDINGS_DKIM_KEY_FILE: .* does not exist"):
        load_settings(
            {**base_env(tmp_path), **dkim, "TIDINGS_DKIM_KEY_FILE": str(tmp_path / "missing.pem")}
        )
    bad = tmp_path / "bad.pem"
    bad.write_text("hello")
    with pytest.raises(ConfigError, match="TIDINGS_DKIM_KEY_FILE: .* not a PEM private key"):
        load_settings({**base_env(tmp_path), **dkim, "TIDINGS_DKIM_KEY_FILE": str(bad)})


def test_a_valid_dkim_key_enables_signing(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp_path / "dkim.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    s = load_settings(
        {
            **base_env(tmp_path),
            "TIDINGS_DKIM_DOMAIN": "news.example.org",
            "TIDINGS_DKIM_SELECTOR": "s2026",
            "TIDINGS_DKIM_KEY_FILE": str(pem),
        }
    )
    assert s.dkim_enabled and s.dkim_selector == "s2026"


def test_the_data_dir_must_not_be_a_file(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("")
    with pytest.raises(ConfigError, match="TIDINGS_DATA_DIR"):
        load_settings({"TIDINGS_DATA_DIR": str(f)})


def test_secrets_never_appear_in_the_settings_repr(tmp_path: Path) -> None:
    s = load_settings(
        {
            **base_env(tmp_path),
            "TIDINGS_SECRET_KEY": "supersecret-0123456789",
            "TIDINGS_SMTP_URL": "smtp://user:pw-9876@relay.example:587",
        }
    )
    text = repr(s)
    assert "supersecret" not in text and "pw-9876" not in text
    assert "relay.example" in text  # the rest is still there to debug with
