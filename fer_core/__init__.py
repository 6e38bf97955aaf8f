"""Facial emotion recognition without Streamlit, in six wings; each may import only those before it.

    core      types and rules everyone shares (labels, results, the model folder, image decoding)
    engine    finds faces and classifies them, TensorFlow-free (LiteRT)          imports core
    analysis  photos, videos, live frames, Grad-CAM, batch                       imports engine, core
    app       what only the pages need (access, uploads, storage, charts)        imports analysis and below
    training  data, the Keras network, train, evaluate, export, ship             imports analysis and below
    bench     speed and scene benchmarks                                         imports any wing

Importing this package is cheap: no TensorFlow. The live path (engine, analysis.live,
app.live_session) never imports it; modules that need it import it themselves.
"""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
"""The checkout this package runs from: default home of models/, the SQLite file and ../shared."""
