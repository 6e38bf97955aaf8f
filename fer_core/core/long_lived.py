"""Keep Python's garbage collector off what a server process loads once (``gc.freeze``).

Every full collection walks every tracked object, holding the GIL. TensorFlow and Keras alone leave
about 400,000 of them (a full collection: 0.06 s before the import, 0.3 s after, on the 2-core machine),
and the live page's signalling and first frames share that GIL: after the Explain page had loaded
TensorFlow, START took 3.3-4.0 s to the first annotated frame in the browser test, 0.6-0.9 s with them
frozen. Frozen objects are never walked again; refcounting still frees them.
"""

from __future__ import annotations

import gc
import threading

_frozen: set[str] = set()
_lock = threading.Lock()


def freeze_once(what: str) -> bool:
    """After ``what`` has loaded: collect once (nothing unreachable is frozen), then move every object
    alive now to the permanent generation. Only the first call for each ``what`` does it."""
    with _lock:
        if what in _frozen:
            return False
        _frozen.add(what)
        gc.collect()
        gc.freeze()
        return True
