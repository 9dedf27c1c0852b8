"""The signed-in user of this browser session, as the pages and write functions see it.

The sign-in gate in ``streamlit_app.py`` puts a ``pipelines.access.User`` into
``st.session_state[USER_KEY]`` once a person has signed in; pages read it with
``current_user()`` and pass it to the domain's write functions, which check the role
themselves. AppTest tests sign in by setting that key before ``run()``.
"""

from __future__ import annotations

import streamlit as st

from pipelines.access import User

USER_KEY = "wics_user"


def current_user() -> User | None:
    """The signed-in user, or None before sign-in."""
    user = st.session_state.get(USER_KEY)
    return user if isinstance(user, User) else None
