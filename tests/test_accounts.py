"""Local accounts (users.json in WICS_HOME), the role of an OIDC sign-in, and `wics users`."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest
from test_cli import lines, wics

from pipelines.access import Role, User
from pipelines.accounts import (
    SIGN_IN_REFUSED,
    AccountError,
    SignInRefused,
    SignInThrottle,
    accounts_path,
    add_account,
    get_account,
    list_accounts,
    oidc_user,
    remove_account,
    verify,
)
from pipelines.oidc import secrets_path, write_streamlit_secrets

from conftest import REPO


def test_a_password_is_stored_as_a_salted_argon2_hash(wics_home):
    add_account(wics_home.home, "alice", "counter", "correct horse")
    add_account(wics_home.home, "bob", "viewer", "correct horse")
    text = accounts_path(wics_home.home).read_text()
    assert "correct horse" not in text
    stored = json.loads(text)["users"]
    alice, bob = stored["alice"]["password_hash"], stored["bob"]["password_hash"]
    assert alice.startswith("$argon2id$") and bob.startswith("$argon2id$")
    assert alice != bob  # same password, different salt


def test_verify_returns_the_user_and_refuses_without_saying_why(wics_home):
    add_account(wics_home.home, "Alice", Role.COUNTER, "correct horse")
    assert verify(wics_home.home, "alice", "correct horse") == User("alice", Role.COUNTER)
    assert verify(wics_home.home, " ALICE ", "correct horse").name == "alice"
    refusals = []
    for name, password in [("alice", "wrong horse"), ("nobody", "correct horse"),
                           ("alice", ""), ("../etc", "x")]:
        with pytest.raises(SignInRefused) as refused:
            verify(wics_home.home, name, password)
        refusals.append(str(refused.value))
    assert set(refusals) == {SIGN_IN_REFUSED}  # unknown user and wrong password look alike


def test_repeated_failures_lock_a_name_out_for_a_while_known_or_not(wics_home):
    add_account(wics_home.home, "alice", "counter", "correct horse")
    throttle = SignInThrottle(limit=3, window=60)
    for name in ("alice", "nobody"):
        for _ in range(3):
            with pytest.raises(SignInRefused, match="Unknown user or wrong password"):
                verify(wics_home.home, name, "wrong horse", throttle=throttle)
        with pytest.raises(SignInRefused, match="Too many failed sign-ins"):
            verify(wics_home.home, name, "correct horse", throttle=throttle)
    other = SignInThrottle(limit=3, window=60)
    for _ in range(2):
        other.failed("alice")
    assert verify(wics_home.home, "alice", "correct horse", throttle=other).name == "alice"
    other.failed("alice")
    other.failed("alice")
    other.check("alice")  # a success forgot the earlier failures
    throttle.check("alice", now=10**9)  # the window has passed


def test_an_oidc_mapping_cannot_sign_in_with_a_password(wics_home):
    add_account(wics_home.home, "sso@example.com", "manager", None)
    assert not get_account(wics_home.home, "sso@example.com").has_password
    with pytest.raises(SignInRefused):
        verify(wics_home.home, "sso@example.com", "wics: no such account")  # the dummy's text


def test_add_refuses_duplicates_bad_names_roles_and_short_passwords(wics_home):
    add_account(wics_home.home, "alice", "counter", "correct horse")
    with pytest.raises(AccountError, match="already exists"):
        add_account(wics_home.home, "ALICE", "viewer", "another horse")
    with pytest.raises(AccountError, match="not a valid user name"):
        add_account(wics_home.home, "a b", "viewer", "correct horse")
    with pytest.raises(AccountError, match="not a role"):
        add_account(wics_home.home, "carol", "admin", "correct horse")
    with pytest.raises(AccountError, match="at least 8"):
        add_account(wics_home.home, "carol", "viewer", "short")
    add_account(wics_home.home, "alice", "manager", "another horse", replace=True)
    assert verify(wics_home.home, "alice", "another horse").role is Role.MANAGER
    with pytest.raises(SignInRefused):
        verify(wics_home.home, "alice", "correct horse")


def test_remove_and_list(wics_home):
    add_account(wics_home.home, "alice", "counter", "correct horse")
    add_account(wics_home.home, "bob", "manager", "correct horse")
    assert [(a.name, a.role) for a in list_accounts(wics_home.home)] == [
        ("alice", Role.COUNTER), ("bob", Role.MANAGER)]
    remove_account(wics_home.home, "alice")
    assert [a.name for a in list_accounts(wics_home.home)] == ["bob"]
    with pytest.raises(SignInRefused):
        verify(wics_home.home, "alice", "correct horse")
    with pytest.raises(AccountError, match="no account alice"):
        remove_account(wics_home.home, "alice")


def test_the_accounts_file_is_private_and_replaced_whole(wics_home):
    add_account(wics_home.home, "alice", "counter", "correct horse")
    path = accounts_path(wics_home.home)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    inode = path.stat().st_ino
    add_account(wics_home.home, "bob", "viewer", "correct horse")
    assert path.stat().st_ino != inode  # a new file renamed over the old one, never rewritten
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not [p for p in wics_home.home.iterdir() if p.name.endswith(".tmp")]


def test_concurrent_adds_from_processes_lose_nobody(wics_home):
    script = ("import sys; from pathlib import Path; from pipelines.accounts import add_account;"
              "add_account(Path(sys.argv[1]), sys.argv[2], 'viewer', 'correct horse')")
    workers = [subprocess.Popen([sys.executable, "-c", script, str(wics_home.home), f"u{i}"],
                                cwd=REPO) for i in range(6)]
    assert [w.wait(timeout=120) for w in workers] == [0] * 6
    assert sorted(a.name for a in list_accounts(wics_home.home)) == [f"u{i}" for i in range(6)]


def test_oidc_role_from_account_then_claim_then_default(wics_home):
    home = wics_home.home
    add_account(home, "boss@example.com", "manager", None)
    assert oidc_user(home, {"email": "Boss@Example.com", "wics_role": "viewer"}) == User(
        "boss@example.com", Role.MANAGER)  # the local mapping wins over the claim
    assert oidc_user(home, {"email": "c@example.com", "wics_role": "counter"}).role \
        is Role.COUNTER
    assert oidc_user(home, {"email": "g@example.com",
                            "groups": ["staff", "counter", "manager"]},
                     role_claim="groups").role is Role.MANAGER  # the highest group
    assert oidc_user(home, {"email": "x@example.com", "wics_role": "admin"}) == User(
        "x@example.com", Role.VIEWER)  # an unknown role name grants nothing
    assert oidc_user(home, {"sub": "abc123"}, default_role="counter") == User(
        "abc123", Role.COUNTER)
    with pytest.raises(AccountError):
        oidc_user(home, {})


def test_streamlit_secrets_from_settings_keep_their_cookie_secret(wics_home, monkeypatch):
    from pipelines.settings import get_settings

    monkeypatch.setenv("WICS_OIDC_METADATA_URL", "http://localhost:9/.well-known/openid-configuration")
    monkeypatch.setenv("WICS_OIDC_CLIENT_ID", "wics")
    monkeypatch.setenv("WICS_OIDC_CLIENT_SECRET", 'se"cret')
    settings = get_settings()
    path = write_streamlit_secrets(settings, "http://127.0.0.1:8501/oauth2callback")
    assert path == secrets_path(settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    import tomllib

    auth = tomllib.loads(path.read_text())["auth"]
    assert auth["client_secret"] == 'se"cret' and auth["client_id"] == "wics"
    assert auth["redirect_uri"] == "http://127.0.0.1:8501/oauth2callback"
    assert len(auth["cookie_secret"]) >= 32
    again = tomllib.loads(write_streamlit_secrets(settings, "http://x/oauth2callback")
                          .read_text())["auth"]
    assert again["cookie_secret"] == auth["cookie_secret"]  # a restart keeps sessions


def test_wics_users_add_list_remove(wics_home):
    def run(*args: str, password: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "pipelines.cli", "users", *args], cwd=REPO, text=True,
            input=password, capture_output=True, timeout=120,
            env={**os.environ, "WICS_HOME": str(wics_home.home),
                 "COLUMNS": "160"})

    done = run("add", "alice", "--role", "counter", password="correct horse\n")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "account alice (counter) saved" in done.stdout
    assert verify(wics_home.home, "alice", "correct horse").role is Role.COUNTER
    assert run("add", "sso@example.com", "--role", "manager", "--oidc").returncode == 0
    refused = run("add", "alice", "--role", "viewer", password="another horse\n")
    assert refused.returncode == 2 and "already exists" in refused.stdout
    listed = lines(run("list").stdout)
    assert any(line.startswith("alice counter password") for line in listed)
    assert any(line.startswith("sso@example.com manager identity provider") for line in listed)
    assert run("remove", "alice").returncode == 0
    assert get_account(wics_home.home, "alice") is None
    assert run("remove", "alice").returncode == 2
    # The password is never an argument.
    assert run("add", "bob", "--role", "viewer", "--password", "x").returncode == 2


@pytest.mark.slow
def test_wics_demo_creates_one_account_per_role(wics_home):
    done = wics("demo", "--materials", "200", home=wics_home.home)
    assert done.returncode == 0, done.stdout + done.stderr
    printed = {}
    for line in lines(done.stdout):
        if line.startswith("user "):
            _, name, _, password = line.split()
            printed[name] = password
    assert set(printed) == {"viewer", "counter", "manager"}
    for name, password in printed.items():
        assert verify(wics_home.home, name, password) == User(name, Role(name))
    again = wics("demo", home=wics_home.home)
    assert "manager exists already" in " ".join(lines(again.stdout))
