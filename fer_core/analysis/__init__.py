"""Whole jobs on top of the engine: a photo, a video, live frames, Grad-CAM explanations, a batch of files.

Imports ``engine`` and ``core``, never training code; only Grad-CAM loads TensorFlow (on request).
"""
