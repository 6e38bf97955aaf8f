"""The training toolchain: datasets, augmentation, the Keras network, train, evaluate, export, ship.

May import ``analysis``, ``engine`` and ``core`` (to measure the whole pipeline); nothing at runtime imports it.
"""
