"""Who the user is: local accounts in ``WICS_HOME/users.json`` and the role of an OIDC sign-in.

Local accounts are the embedded default. The file lives beside the warehouse, not in it, so
signing in never waits for a load that holds the DuckDB file. It is readable by its owner
only (0600), replaced atomically (write a temporary file, fsync, rename) under a lock file, and
holds argon2id hashes from argon2-cffi, each with its own random salt; never a password.

An account without a password is an OIDC role mapping: ``wics users add alice@example.com
--role manager --oidc`` gives that identity-provider user a role, and cannot sign in locally.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from pipelines.access import Role, User

ACCOUNTS_FILE = "users.json"
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._@+-]{0,63}")
MIN_PASSWORD_LENGTH = 8
SIGN_IN_REFUSED = "Unknown user or wrong password."

_hasher = PasswordHasher()  # argon2id, RFC 9106 low-memory profile: 64 MiB, 3 passes


@cache
def _dummy_hash() -> str:
    """Verified against when the name is unknown, so an unknown name costs as long as a wrong
    password and the answer's timing does not tell which it was (made once, on first use)."""
    return _hasher.hash("wics: no such account")


class AccountError(ValueError):
    """A bad name, role or password, or an account that exists (or does not)."""


class SignInRefused(Exception):  # noqa: N818 - reads as what happened
    """Unknown user or wrong password; deliberately does not say which."""

    def __init__(self, message: str = SIGN_IN_REFUSED) -> None:
        super().__init__(message)


class SignInThrottle:
    """Slows password guessing: after ``limit`` failures for one name within ``window``
    seconds, that name is refused unchecked until the window has passed. Known and unknown
    names are treated alike, so the lock-out does not tell which names exist. One per process
    (the dashboard serves every browser from one)."""

    def __init__(self, limit: int = 5, window: float = 900.0) -> None:
        self.limit, self.window = limit, window
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def check(self, name: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            recent = [t for t in self._failures.get(name, []) if now - t < self.window]
            self._failures[name] = recent
            if len(recent) >= self.limit:
                minutes = max(1, round((self.window - (now - recent[0])) / 60))
                raise SignInRefused(f"Too many failed sign-ins for this name; try again in "
                                    f"{minutes} minute{'s' if minutes > 1 else ''}.")

    def failed(self, name: str, now: float | None = None) -> None:
        with self._lock:
            self._failures.setdefault(name, []).append(
                time.monotonic() if now is None else now)

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._failures.pop(name, None)


@dataclass(frozen=True)
class Account:
    name: str
    role: Role
    created_at: str
    # False for an OIDC role mapping, which has no password and cannot sign in locally.
    has_password: bool

    @property
    def user(self) -> User:
        return User(name=self.name, role=self.role)


def accounts_path(home: Path) -> Path:
    return home / ACCOUNTS_FILE


def normalise_name(name: str) -> str:
    """Names are case-insensitive (typed on tablets) and may be e-mail addresses."""
    clean = name.strip().lower()
    if not NAME_PATTERN.fullmatch(clean):
        raise AccountError(
            f"{name!r} is not a valid user name: 1-64 characters, letters, digits and . _ @ + -,"
            " starting with a letter or digit"
        )
    return clean


def _role(role: str | Role) -> Role:
    try:
        return Role(str(role).strip().lower())
    except ValueError:
        choices = ", ".join(r.value for r in Role)
        raise AccountError(f"{role!r} is not a role; choose one of {choices}") from None


def _read(path: Path) -> dict[str, dict[str, object]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    return dict(data.get("users", {}))


def _write(path: Path, users: Mapping[str, Mapping[str, object]]) -> None:
    """Replace the file atomically; the temporary file is 0600 from its first byte."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump({"version": 1, "users": dict(sorted(users.items()))}, out, indent=2)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a power cut
    finally:
        os.close(directory)


@contextmanager
def _locked(home: Path) -> Iterator[Path]:
    """Serialise read-modify-write of the accounts file between processes."""
    home.mkdir(parents=True, exist_ok=True)
    lock = os.open(home / f".{ACCOUNTS_FILE}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield accounts_path(home)
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        os.close(lock)


def _account(name: str, entry: Mapping[str, object]) -> Account:
    return Account(name=name, role=Role(str(entry["role"])),
                   created_at=str(entry.get("created_at", "")),
                   has_password=bool(entry.get("password_hash")))


def add_account(home: Path, name: str, role: str | Role, password: str | None, *,
                replace: bool = False) -> Account:
    """Create an account (``password=None``: an OIDC role mapping); ``replace`` resets one."""
    name, role = normalise_name(name), _role(role)
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    entry: dict[str, object] = {
        "role": role.value,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "password_hash": _hasher.hash(password) if password is not None else None,
    }
    with _locked(home) as path:
        users = _read(path)
        if name in users and not replace:
            raise AccountError(f"{name} already exists (--replace sets a new password and role)")
        users[name] = entry
        _write(path, users)
    return _account(name, entry)


def remove_account(home: Path, name: str) -> None:
    name = normalise_name(name)
    with _locked(home) as path:
        users = _read(path)
        if name not in users:
            raise AccountError(f"there is no account {name}")
        del users[name]
        _write(path, users)


def list_accounts(home: Path) -> list[Account]:
    return [_account(name, entry) for name, entry in sorted(_read(accounts_path(home)).items())]


def get_account(home: Path, name: str) -> Account | None:
    try:
        name = normalise_name(name)
    except AccountError:
        return None
    entry = _read(accounts_path(home)).get(name)
    return _account(name, entry) if entry else None


def verify(home: Path, name: str, password: str, *,
           throttle: SignInThrottle | None = None) -> User:
    """The user for a correct name and password, else SignInRefused (never saying which)."""
    if throttle is None:
        return _verify(home, name, password)
    attempted = name.strip().lower()
    throttle.check(attempted)
    try:
        user = _verify(home, name, password)
    except SignInRefused:
        throttle.failed(attempted)
        raise
    throttle.succeeded(attempted)
    return user


def _verify(home: Path, name: str, password: str) -> User:
    try:
        key = normalise_name(name)
    except AccountError:
        key = ""
    entry = _read(accounts_path(home)).get(key) if key else None
    stored = entry.get("password_hash") if entry else None
    try:
        _hasher.verify(str(stored) if stored else _dummy_hash(), password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        raise SignInRefused() from None
    if not stored or entry is None:  # the dummy hash matched its own text: still refused
        raise SignInRefused()
    if _hasher.check_needs_rehash(str(stored)):
        _rehash(home, key, password)
    return User(name=key, role=Role(str(entry["role"])))


def _rehash(home: Path, name: str, password: str) -> None:
    """Upgrade a hash made with weaker parameters than today's, on a successful sign-in."""
    with _locked(home) as path:
        users = _read(path)
        if name in users:
            users[name] = {**users[name], "password_hash": _hasher.hash(password)}
            _write(path, users)


def oidc_user(home: Path, claims: Mapping[str, object], *, role_claim: str = "wics_role",
              default_role: str | Role = Role.VIEWER) -> User:
    """The WICS user of an identity-provider sign-in (the ID token's claims, ``st.user``).

    The name is the e-mail address (else the preferred user name, else the subject). The
    role: a local account of that name (set here, by whoever runs ``wics users``) wins; else
    the ``role_claim`` claim if the provider sends one (a role name, or a list of groups of
    which the highest role counts); else ``default_role``.
    """
    raw_name = next((str(claims[k]) for k in ("email", "preferred_username", "sub")
                     if claims.get(k)), "")
    if not raw_name:
        raise AccountError("the identity provider sent no e-mail, user name or subject")
    name = raw_name.strip().lower()
    account = get_account(home, name)
    if account is not None:
        return User(name=account.name, role=account.role)
    claimed = claims.get(role_claim)
    values = claimed if isinstance(claimed, list | tuple) else [claimed]
    granted = [Role(str(v).lower()) for v in values if str(v).lower() in set(Role)]
    order = list(Role)  # viewer < counter < manager
    role = max(granted, key=order.index) if granted else _role(default_role)
    return User(name=name, role=role)
