"""Table profiling: bounded-memory profiles of parquet (a batch at a time) and warehouse tables (SQL).

``profile_parquet(path, options)`` profiles any parquet file or folder (the entry point for scripts
and benchmarks); ``parquet.profile_source`` and ``sql.profile_table`` profile the lazy handles the
catalog's profiling datasets load; ``drift`` compares two profiles; ``html`` renders them.
"""

from cripto_platform.profiling.parquet import profile_batches, profile_parquet, profile_source
from cripto_platform.profiling.sources import ParquetSource, WarehouseSource

__all__ = ["ParquetSource", "WarehouseSource", "profile_batches", "profile_parquet", "profile_source"]
