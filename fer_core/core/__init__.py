"""Types and rules every wing shares: labels, results, records, the model folder, image decoding.

Imports nothing else from fer_core and never TensorFlow at import time (``tf_import`` loads it on request).
"""
