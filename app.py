"""Streamlit entry point: `streamlit run app.py`. The router for every page of the dashboard.

streamlit-webrtc (and with it pylibsrtp) is imported here, first, before any page can import
TensorFlow: all pages share this one server process, and TensorFlow followed by pylibsrtp
segfaults it (../shared/notes/tensorflow-aiortc-import-order.md). app.py runs on every page
visit, so whatever order users open pages in, pylibsrtp is already loaded.

Page icons are emoji: Streamlit draws an emoji favicon itself, while a ``:material/...`` page
icon makes the browser fetch the favicon from fonts.gstatic.com (a third party).
"""

import streamlit_webrtc  # noqa: F401  (import order: must precede any TensorFlow import)
import streamlit as st

from pages._common import APP_TITLE, guard_page, routed, show_disclaimer

st.set_page_config(page_title=APP_TITLE, page_icon="🙂", layout="wide")

PAGES = [
    st.Page("pages/home.py", title="Home", icon="🏠", default=True),
    st.Page("pages/live.py", title="Live webcam", icon="🎥"),
    st.Page("pages/photo.py", title="Photo", icon="📷"),
    st.Page("pages/video.py", title="Video", icon="🎞️"),
    st.Page("pages/explain.py", title="Explain (Grad-CAM)", icon="🔍"),
    st.Page("pages/history.py", title="History", icon="🕘"),
    st.Page("pages/model.py", title="Model", icon="📊"),
]

page = st.navigation(PAGES)
show_disclaimer()
with routed():  # the page's own guard_page then knows it came through here
    guard_page()  # the token prompt before any page's sidebar (off unless a token is set: README)
    page.run()
