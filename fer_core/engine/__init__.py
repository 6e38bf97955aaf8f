"""Finds faces and classifies them: detectors, the LiteRT classifier, the tracker, the analyzer, annotation.

Imports only ``fer_core.core``; never TensorFlow and never training code, so the live path stays light.
"""
