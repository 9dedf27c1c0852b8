"""The dashboard's sign-in gate and the pages each role sees (Streamlit AppTest)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from pipelines.access import Role, User
from pipelines.accounts import SIGN_IN_REFUSED, SignInThrottle, add_account, remove_account
from pipelines.ingest.load import load_file

import navigation
from auth import USER_KEY
from conftest import REPO, mb52_row, mm60_row

APP = str(REPO / "dashboard" / "streamlit_app.py")
AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "s" * 32,
        "client_id": "wics", "client_secret": "secret",
        "server_metadata_url": "http://localhost:9/.well-known/openid-configuration"}


@pytest.fixture(autouse=True)
def fresh_cache(monkeypatch):
    import streamlit as st

    import auth

    st.cache_data.clear()
    monkeypatch.setattr(auth, "THROTTLE", SignInThrottle())  # failures of other tests


@pytest.fixture
def loaded(wics_home, mm60_file, mb52_file):
    load_file(mm60_file([mm60_row("1"), mm60_row("2")]))
    load_file(mb52_file([mb52_row("1", value=125.5)]))
    return wics_home


def app_for(user: User | None = None) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=60)
    if user is not None:
        app.session_state[USER_KEY] = user
    return app


def page_text(app: AppTest) -> str:
    parts = [e.value for kind in ("title", "markdown", "caption", "info", "error", "subheader")
             for e in getattr(app, kind)]
    return "\n".join(str(p) for p in parts)


def sign_in(app: AppTest, name: str, password: str) -> AppTest:
    app.text_input[0].input(name)
    app.text_input[1].input(password)
    app.button[0].click()
    return app.run()


def test_an_anonymous_visitor_gets_the_sign_in_form_and_no_data(loaded):
    app = app_for().run()
    assert not app.exception
    assert app.title[0].value == "Sign in to WICS"
    assert [t.label for t in app.text_input] == ["User name", "Password"]
    assert not app.metric and not app.dataframe  # no warehouse figure, no table
    assert "Warehouse overview" not in page_text(app)
    assert "no accounts yet" in app.info[0].value
    assert not app.sidebar.button  # no sign-out, no navigation: no page ran


def test_a_local_sign_in_runs_the_page_and_a_wrong_one_says_only_that(loaded):
    add_account(loaded.home, "alice", "counter", "correct horse")
    app = app_for().run()
    assert not app.info  # accounts exist: no hint about creating them
    sign_in(app, "alice", "wrong horse")
    assert app.error[0].value == SIGN_IN_REFUSED and not app.metric
    sign_in(app, "nobody", "correct horse")
    assert app.error[0].value == SIGN_IN_REFUSED and not app.metric
    sign_in(app, "Alice", "correct horse")
    assert not app.exception
    assert app.session_state[USER_KEY] == User("alice", Role.COUNTER)
    assert app.title[0].value == "Warehouse overview"
    assert {m.label: m.value for m in app.metric}["Counts today"] == "0 of 0"
    assert app.sidebar.text[0].value == "alice · counter"
    app.sidebar.button(key="sign_out").click().run()
    assert app.title[0].value == "Sign in to WICS" and not app.metric
    assert USER_KEY not in app.session_state


def test_guessing_passwords_locks_the_name_out(loaded):
    add_account(loaded.home, "alice", "counter", "correct horse")
    app = app_for().run()
    for _ in range(5):
        sign_in(app, "alice", "guess")
    sign_in(app, "alice", "correct horse")
    assert "Too many failed sign-ins" in app.error[0].value
    assert USER_KEY not in app.session_state and not app.metric


def test_a_removed_account_is_signed_out_and_a_new_role_applies_at_once(loaded):
    add_account(loaded.home, "alice", "counter", "correct horse")
    app = sign_in(app_for().run(), "alice", "correct horse")
    add_account(loaded.home, "alice", "viewer", "correct horse", replace=True)
    app.run()
    assert app.session_state[USER_KEY].role is Role.VIEWER
    remove_account(loaded.home, "alice")
    app.run()
    assert app.title[0].value == "Sign in to WICS" and not app.metric


def test_oidc_offers_the_provider_and_maps_the_signed_in_user(loaded, monkeypatch):
    monkeypatch.setenv("WICS_OIDC_PROVIDER_NAME", "Contoso")
    app = app_for()
    app.secrets["auth"] = AUTH
    app.user = {"is_logged_in": False}
    app.run()
    assert [b.label for b in app.button] == ["Sign in with Contoso"]
    assert not app.text_input and not app.metric  # no local accounts: the provider only
    add_account(loaded.home, "tablet1", "counter", "correct horse")
    app.run()
    assert [b.label for b in app.button] == ["Sign in with Contoso", "Sign in"]
    assert [t.label for t in app.text_input] == ["User name", "Password"]

    add_account(loaded.home, "boss@example.com", "manager", None)
    app = app_for()
    app.secrets["auth"] = AUTH
    app.user = {"is_logged_in": True, "email": "Boss@example.com", "name": "Boss"}
    app.run()
    assert not app.exception
    assert app.session_state[USER_KEY] == User("boss@example.com", Role.MANAGER)
    assert app.title[0].value == "Warehouse overview"


def test_a_viewer_does_not_see_manager_pages_or_the_upload(loaded, tmp_path, monkeypatch):
    secret_page = tmp_path / "manager_only.py"
    secret_page.write_text("import streamlit as st\nst.title('Manager only')\n")
    monkeypatch.setattr(navigation, "PAGES", [
        *navigation.PAGES,
        navigation.PageSpec(str(secret_page), "Manager only", ":material/lock:", Role.MANAGER),
    ])
    viewer = app_for(User("vera", Role.VIEWER)).run()
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        viewer.switch_page(str(secret_page))
    viewer.switch_page("app_pages/loads.py").run()
    assert viewer.title[0].value == "SAP loads"
    assert not [e for e in viewer.expander if e.label.startswith("Upload")]

    manager = app_for(User("max", Role.MANAGER)).run()
    manager.switch_page(str(secret_page)).run()
    assert manager.title[0].value == "Manager only"
    manager.switch_page("app_pages/loads.py").run()
    assert [e for e in manager.expander if e.label.startswith("Upload")]


def test_the_page_table_orders_roles_and_skips_pages_not_written_yet():
    pages = [navigation.PageSpec("app_pages/overview.py", "Overview", "", Role.VIEWER),
             navigation.PageSpec("app_pages/count_entry.py", "Count entry", "", Role.COUNTER),
             navigation.PageSpec("app_pages/not_yet.py", "Later", "", Role.VIEWER),
             navigation.PageSpec("app_pages/loads.py", "SAP loads", "", Role.MANAGER)]
    titles = {role: [p.title for p in navigation.pages_for(User("u", role), pages)]
              for role in Role}
    entry = ["Count entry"] if (navigation.DASHBOARD / "app_pages/count_entry.py").exists() \
        else []
    assert titles[Role.VIEWER] == ["Overview"]
    assert titles[Role.COUNTER] == ["Overview", *entry]
    assert titles[Role.MANAGER] == ["Overview", *entry, "SAP loads"]
