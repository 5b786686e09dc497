"""``python -m core batch``: many clips captured on a local process pool or a Ray cluster.

inputs.py   clips from files, folders and CSV/JSON manifests, options checked up front
worker.py   one clip in a worker process, through the same transaction as a single capture
engines.py  the local process pool and Ray (imported only for --engine ray)
summary.py  OUT/batch_summary.json, --resume's notion of complete, the final table
run.py      the batch itself: skip, dispatch, record, show progress
cli.py      the subcommand's arguments
"""

from core.batch.inputs import Clip, collect_clips
from core.batch.run import BatchConfig, run_batch

__all__ = ["BatchConfig", "Clip", "collect_clips", "run_batch"]
