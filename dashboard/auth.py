"""The signed-in user of this browser session, as the pages and write functions see it.

The sign-in gate (``require_sign_in``, called by ``streamlit_app.py`` before any page runs)
puts a ``pipelines.access.User`` into ``st.session_state[USER_KEY]`` once a person has signed
in; pages read it with ``current_user()`` and pass it to the domain's write functions, which
check the role themselves. AppTest tests sign in by setting that key before ``run()``.

Two ways in: an OpenID Connect identity provider through Streamlit's ``st.login`` when an
``[auth]`` table is in the secrets (``wics up`` writes one from the ``WICS_OIDC_*`` settings),
and local accounts (``wics users``) in ``WICS_HOME/users.json``.
"""

from __future__ import annotations

import streamlit as st

from pipelines.access import User
from pipelines.accounts import (
    SignInRefused,
    SignInThrottle,
    get_account,
    list_accounts,
    oidc_user,
    verify,
)
from pipelines.settings import get_settings

USER_KEY = "wics_user"
# How the session's user signed in: "local" users are checked against the accounts file on
# every run (a removed account is signed out, a changed role applies at once), "oidc" users
# against st.user.
SIGNED_IN_WITH_KEY = "wics_signed_in_with"
# Module state outlives reruns and is shared by every browser session of this process.
THROTTLE = SignInThrottle()


def current_user() -> User | None:
    """The signed-in user, or None before sign-in."""
    user = st.session_state.get(USER_KEY)
    return user if isinstance(user, User) else None


def oidc_configured() -> bool:
    """An identity provider is set up: the secrets hold Streamlit's [auth] table."""
    return st.secrets.load_if_toml_exists() and "auth" in st.secrets


def _sign_in(user: User, how: str) -> None:
    st.session_state[USER_KEY] = user
    st.session_state[SIGNED_IN_WITH_KEY] = how


def _forget() -> None:
    st.session_state.pop(USER_KEY, None)
    st.session_state.pop(SIGNED_IN_WITH_KEY, None)


def _refreshed_user() -> User | None:
    """The session's user, brought up to date with the accounts file and the identity token."""
    settings = get_settings()
    if oidc_configured() and st.user.get("is_logged_in"):
        _sign_in(oidc_user(settings.home, st.user.to_dict(),
                           role_claim=settings.oidc_role_claim,
                           default_role=settings.oidc_default_role), "oidc")
    elif st.session_state.get(SIGNED_IN_WITH_KEY) == "local":
        user = current_user()
        account = get_account(settings.home, user.name) if user else None
        if account is None or not account.has_password:
            _forget()
        else:
            _sign_in(account.user, "local")
    return current_user()


def sign_out() -> None:
    """Forget the user; an identity-provider session also loses its cookie (st.logout)."""
    with_oidc = st.session_state.get(SIGNED_IN_WITH_KEY) == "oidc"
    _forget()
    if with_oidc:
        st.logout()  # the browser goes to /auth/logout, then the provider's end of session
        st.stop()
    else:
        st.rerun()


def _sign_in_page() -> None:
    """What an anonymous visitor sees: no page, no warehouse data, only ways to sign in."""
    settings = get_settings()
    st.title("Sign in to WICS")
    st.caption("Warehouse Inventory Control System")
    local_accounts = any(a.has_password for a in list_accounts(settings.home))
    with_oidc = oidc_configured()
    if with_oidc and st.button(f"Sign in with {settings.oidc_provider_name}", type="primary",
                               icon=":material/login:"):
        st.login()
    if with_oidc and not local_accounts:
        return
    if with_oidc:
        st.divider()
        st.caption("Or with a WICS account")
    with st.form("sign_in", clear_on_submit=True, width=420):
        name = st.text_input("User name", autocomplete="username")
        password = st.text_input("Password", type="password", autocomplete="current-password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        try:
            _sign_in(verify(settings.home, name, password, throttle=THROTTLE), "local")
        except SignInRefused as refused:
            st.error(str(refused), icon=":material/lock:")
        else:
            st.rerun()
    if not local_accounts and not with_oidc:
        st.info("There are no accounts yet. Whoever runs WICS creates them with "
                "`wics users add NAME --role manager` (or `wics demo` for demo accounts).")


def require_sign_in() -> User:
    """The signed-in user; for an anonymous visitor, the sign-in page and a stopped script."""
    user = _refreshed_user()
    if user is None:
        _sign_in_page()
        st.stop()
    with st.sidebar:
        st.caption("Signed in as")
        st.text(f"{user.name} · {user.role.value}")  # plain text: names come from outside
        if st.button("Sign out", icon=":material/logout:", key="sign_out"):
            sign_out()
    return user
