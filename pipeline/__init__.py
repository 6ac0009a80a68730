"""caseflow's nightly pipeline: one module per stage, named by its verb."""

import os

# polars' allocator (jemalloc, read once when polars loads: every caseflow process imports this
# package first) keeps freed pages for 10 s by default; a night frees gigabytes of one stage's
# frames just before the next stage allocates as much again, so those pages added up to the
# peak. After 1 s they go back to the system: the 1M night book's query peaked at 1.1 GB
# instead of 1.9 GB, and 0.3 GB instead of 2.0 GB stayed held after it (README, Performance).
# A value the user set is kept.
os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:1000,muzzy_decay_ms:0")
