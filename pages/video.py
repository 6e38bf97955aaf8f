"""Video page (stub until the PAGES owner's page lands)."""

import streamlit as st

st.title("Video")
st.info("This page is not available yet.")
