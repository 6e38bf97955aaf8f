"""Streamlit entry point: `streamlit run app.py`. The router for every page of the dashboard.

streamlit-webrtc (and with it pylibsrtp) is imported here, first, before any page can import
TensorFlow: all pages share this one server process, and TensorFlow followed by pylibsrtp
segfaults it (../shared/notes/tensorflow-aiortc-import-order.md). app.py runs on every page
visit, so whatever order users open pages in, pylibsrtp is already loaded.

Page icons need no system font and fetch nothing from third parties: the menu's icons are
Material Symbols, a font Streamlit ships and serves itself, and the favicon is a small PNG in
assets/ served by the app (an emoji icon is an empty box on a machine without an emoji font, and
a ``:material/...`` favicon would be fetched from fonts.gstatic.com). The favicon is set here,
before st.navigation, so no page's icon becomes the favicon.
"""

import streamlit_webrtc  # noqa: F401  (import order: must precede any TensorFlow import; first of all)

from pathlib import Path  # noqa: E402

import streamlit as st  # noqa: E402

from fer_core.core.long_lived import freeze_once  # noqa: E402
from ui.guard import APP_TITLE, guard_page, routed, show_disclaimer

FAVICON = Path(__file__).resolve().parent / "assets" / "favicon.png"
st.set_page_config(page_title=APP_TITLE, page_icon=str(FAVICON), layout="wide")

PAGES = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/live.py", title="Live webcam", icon=":material/videocam:"),
    st.Page("pages/photo.py", title="Photo", icon=":material/photo_camera:"),
    st.Page("pages/video.py", title="Video", icon=":material/movie:"),
    st.Page("pages/explain.py", title="Explain (Grad-CAM)", icon=":material/search:"),
    st.Page("pages/history.py", title="History", icon=":material/history:"),
    st.Page("pages/model.py", title="Model", icon=":material/bar_chart:"),
]

page = st.navigation(PAGES)
show_disclaimer()
with routed():  # the page's own guard_page then knows it came through here
    guard_page()  # the token prompt before any page's sidebar (off unless a token is set: README)
    page.run()
freeze_once("first page")  # the server's imports, kept out of every later full collection
