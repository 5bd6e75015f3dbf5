"""yoloarena: YOLOv5 and DAMO-YOLO in one arena.

import yoloarena
model = yoloarena.load("path/to/yolov5n.pt")
for r in model.predict("images/"):
    r.print()
"""

from . import threads  # noqa: F401  (starts the load sampler of the thread policy)
from .api import ArenaModel
from .loading import load
from .registry import list_models
from .structures import Results

__version__ = "0.1.0"
__all__ = ["ArenaModel", "Results", "__version__", "list_models", "load"]
