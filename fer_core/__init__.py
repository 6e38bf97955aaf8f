"""Facial emotion recognition core: everything the dashboard does, without Streamlit.

Importing this package is cheap: no TensorFlow. Modules that need TensorFlow
(model, train, gradcam, export) import it themselves.
"""

from fer_core.labels import CLASSES

__all__ = ["CLASSES"]
