"""Store URIs: which engine they pick, and that a password never shows."""

from __future__ import annotations

from pathlib import Path

import pytest

import queuecore
from jobtui.config import resolve_uri
from queuecore.uri import is_mongo, mask, password, sqlite_path


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("mongodb://bob:secret@db.example/jobs", "mongodb://bob:***@db.example/jobs"),
        ("mongodb+srv://bob:secret@cluster.example/", "mongodb+srv://bob:***@cluster.example/"),
        # an unescaped '@' or '/' in the password is still hidden whole
        ("mongodb://bob:se@c/ret@h1,h2/db?replicaSet=rs0", "mongodb://bob:***@h1,h2/db?replicaSet=rs0"),
        # typed without a scheme
        ("bob:secret@localhost", "bob:***@localhost"),
        # secrets in query options
        ("mongodb://h/db?password=secret&w=1", "mongodb://h/db?password=***&w=1"),
        (
            "mongodb://h/?tlsCertificateKeyFilePassword=secret",
            "mongodb://h/?tlsCertificateKeyFilePassword=***",
        ),
        ("mongodb://h/?ssl_pem_passphrase=secret;w=1", "mongodb://h/?ssl_pem_passphrase=***;w=1"),
        (
            "mongodb://h/?authMechanismProperties=SERVICE_NAME:mongodb,AWS_SESSION_TOKEN:secret",
            "mongodb://h/?authMechanismProperties=SERVICE_NAME:mongodb,AWS_SESSION_TOKEN:***",
        ),
        # percent-encoded separators (pymongo decodes authMechanismProperties before splitting)
        (
            "mongodb://h/?tlsCertificateKeyFilePassword%3Dsecret",
            "mongodb://h/?tlsCertificateKeyFilePassword%3D***",
        ),
        (
            "mongodb://h/?authMechanismProperties=AWS_SESSION_TOKEN%3Asecret%2CSERVICE_NAME%3Ax&w=1",
            "mongodb://h/?authMechanismProperties=AWS_SESSION_TOKEN%3A***%2CSERVICE_NAME%3Ax&w=1",
        ),
        # an unescaped '?' in the password (the user info ends where pymongo ends it)
        ("mongodb://bob:se?cret@h/db", "mongodb://bob:***@h/db"),
        # an '@' in an option value, with no '/': the host is kept, the password is just that
        ("mongodb://bob:secret@h?appName=a@b", "mongodb://bob:***@h?appName=a@b"),
        # nothing to hide: unchanged
        ("mongodb://bob@h/db", "mongodb://bob@h/db"),
        ("mongodb://h/db?authSource=a@b", "mongodb://h/db?authSource=a@b"),
        ("sqlite:////var/lib/jobs.db", "sqlite:////var/lib/jobs.db"),
    ],
)
def test_mask_hides_every_password(uri: str, shown: str) -> None:
    assert mask(uri) == shown
    assert "secret" not in mask(uri)
    # the password to scrub from other libraries' messages is exactly what mask hid
    assert password(uri) in ("", "secret", "se@c/ret", "se?cret")


def test_engine_and_path_from_the_uri(tmp_path: Path) -> None:
    assert is_mongo("mongodb://h/db") and is_mongo("mongodb+srv://h/db")
    assert not is_mongo("sqlite:///jobs.db") and not is_mongo("jobs.db")
    assert sqlite_path("sqlite:////abs/jobs.db") == Path("/abs/jobs.db")
    assert sqlite_path("sqlite:///rel/jobs.db") == Path("rel/jobs.db")
    assert sqlite_path(str(tmp_path / "plain.db")) == tmp_path / "plain.db"


def test_mongo_option_must_be_a_mongodb_uri(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=r"--mongo expects a mongodb:// .* got 'jobs\.db'"):
        resolve_uri(mongo="jobs.db")
    monkeypatch.setenv("JOBTUI_MONGO_URI", "http://bob:secret@h")
    with pytest.raises(ValueError, match="JOBTUI_MONGO_URI expects") as info:
        resolve_uri()
    assert "secret" not in str(info.value)
    assert list(tmp_path.iterdir()) == []  # no SQLite file was created by mistake


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("ftp://user:hunter2@host/db", "unsupported URI scheme 'ftp'"),
        ("mongodb://user:hunter2@", "invalid MongoDB URI"),
        ("mongodb://user:hunter2@127.0.0.1:1/db?serverSelectionTimeoutMS=300", "cannot reach MongoDB"),
        ("sqlite://relative.db", "invalid SQLite URI"),
        ("", "no store URI"),
    ],
)
async def test_connect_errors_are_clear_and_hide_the_password(uri: str, message: str) -> None:
    with pytest.raises(queuecore.ConnectError) as info:
        await queuecore.connect(uri)
    assert message in str(info.value)
    assert "hunter2" not in str(info.value)
