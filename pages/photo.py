"""Photo page (stub until the PAGES owner's page lands)."""

import streamlit as st

st.title("Photo")
st.info("This page is not available yet.")
