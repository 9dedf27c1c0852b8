"""Sign-in as a person meets it: headless Chromium against a real Streamlit server, and a real
OIDC provider (oidc-provider-mock) on loopback for st.login."""

from __future__ import annotations

import pytest

from pipelines.accounts import add_account
from pipelines.ingest.load import load_file
from pipelines.oidc import write_streamlit_secrets
from pipelines.settings import get_settings

from browser import (
    chromium_page,
    free_port,
    screenshot,
    sign_in,
    streamlit_server,
    wait_for_script,
)
from conftest import mb52_row, mm60_row

pytestmark = pytest.mark.browser


@pytest.fixture
def loaded(wics_home, mm60_file, mb52_file):
    load_file(mm60_file([mm60_row("1"), mm60_row("2")], name="MM60_2026-11-01.xlsx"))
    load_file(mb52_file([mb52_row("1", value=125.5)], name="MB52_2026-11-02.xlsx"))
    return wics_home


def test_an_anonymous_visitor_sees_no_data_and_a_local_sign_in_works(loaded):
    add_account(loaded.home, "alice", "counter", "correct horse")
    with streamlit_server(loaded.home) as url, chromium_page() as page:
        for path in ("", "/loads"):  # a deep link to a page shows the form just the same
            page.goto(url + path)
            wait_for_script(page)
            body = page.inner_text("body")
            assert "Sign in to WICS" in body
            for secret in ("Warehouse overview", "Accuracy this week", "2026-11-02",
                           "MB52_2026-11-02.xlsx", "SAP loads", "125.5"):
                assert secret not in body
        screenshot(page, "signin-form")

        page.get_by_label("User name", exact=True).fill("alice")
        page.get_by_label("Password", exact=True).fill("wrong horse")
        page.get_by_role("button", name="Sign in", exact=True).click()
        page.get_by_text("Unknown user or wrong password.").wait_for(timeout=60_000)
        wait_for_script(page)
        assert "Accuracy this week" not in page.inner_text("body")
        screenshot(page, "signin-refused")

        sign_in(page, "alice", "correct horse")
        body = page.inner_text("body")
        assert "Warehouse overview" in body and "2026-11-02" in body
        assert "alice · counter" in body and "Sign out" in body
        assert "Traceback" not in body
        screenshot(page, "signin-local-overview")

        page.get_by_role("button", name="Sign out").click()
        page.get_by_text("Sign in to WICS").wait_for(timeout=60_000)
        wait_for_script(page)
        assert "Accuracy this week" not in page.inner_text("body")


def test_oidc_sign_in_against_a_local_provider(loaded, monkeypatch):
    from oidc_provider_mock import User as ProviderUser
    from oidc_provider_mock import run_server_in_thread

    carla = ProviderUser(sub="carla", claims={"email": "Carla@Example.com", "name": "Carla",
                                              "wics_role": "counter"})
    with run_server_in_thread(user_claims=[carla]) as provider:
        dashboard_port = free_port()
        monkeypatch.setenv("WICS_OIDC_METADATA_URL", f"http://localhost:{provider.server_port}"
                                                     "/.well-known/openid-configuration")
        monkeypatch.setenv("WICS_OIDC_CLIENT_ID", "wics-dashboard")
        monkeypatch.setenv("WICS_OIDC_CLIENT_SECRET", "not-so-secret")
        monkeypatch.setenv("WICS_OIDC_PROVIDER_NAME", "Mock IdP")
        # The same secrets file `wics up` writes and passes to Streamlit.
        secrets_file = write_streamlit_secrets(
            get_settings(), f"http://127.0.0.1:{dashboard_port}/oauth2callback")
        with streamlit_server(loaded.home, port=dashboard_port,
                              extra_args=["--secrets.files", str(secrets_file)]) as url, \
                chromium_page() as page:
            page.goto(url)
            wait_for_script(page)
            body = page.inner_text("body")
            assert "Sign in with Mock IdP" in body and "Accuracy this week" not in body
            assert "User name" not in body  # no local accounts: the provider only
            screenshot(page, "signin-oidc-button")

            page.get_by_role("button", name="Sign in with Mock IdP").click()
            page.wait_for_url(f"http://localhost:{provider.server_port}/oauth2/authorize**")
            screenshot(page, "signin-oidc-provider")
            page.get_by_role("button", name="carla").click()  # the provider's consent form

            page.wait_for_url(f"{url}/**", timeout=60_000)
            page.get_by_text("carla@example.com · counter").wait_for(timeout=60_000)
            wait_for_script(page)
            body = page.inner_text("body")
            assert "Warehouse overview" in body and "2026-11-02" in body
            screenshot(page, "signin-oidc-overview")

            page.reload()  # the identity cookie keeps the user signed in
            page.get_by_text("carla@example.com · counter").wait_for(timeout=60_000)

            page.get_by_role("button", name="Sign out").click()
            # Streamlit drops its identity cookie and sends the browser to the provider's
            # end of session, which asks to confirm and comes back to the dashboard.
            page.wait_for_url("**/oauth2/end_session**", timeout=60_000)
            page.get_by_role("button", name="End session").click()
            page.wait_for_url(f"{url}/**", timeout=60_000)
            page.get_by_text("Sign in with Mock IdP").wait_for(timeout=60_000)
            wait_for_script(page)
            body = page.inner_text("body")
            assert "Sign in with Mock IdP" in body and "Accuracy this week" not in body
