"""What only the dashboard's pages need: access, upload checks, storage, samples, charts, model summaries.

Imports ``analysis``, ``engine`` and ``core``; never Streamlit (pages are thin layout on top of this).
"""
