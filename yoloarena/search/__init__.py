"""MAE-NAS backbone search for DAMO-YOLO under budgets measured on this machine.

The structure, its score and the mutation live with the family (models/damoyolo: structure,
madnas, space, parts); here are the latency table, the evolutionary loop and the job.
"""

from .job import SearchConfig, run_search

__all__ = ["SearchConfig", "run_search"]
