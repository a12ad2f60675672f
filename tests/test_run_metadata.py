"""Run metadata stamped on run outputs."""


def test_run_start_times_order_runs_started_within_one_second():
    """reservation_clusters_latest picks the run started last: second precision tied two quick runs."""
    import time

    from cripto_platform.run_metadata import new_run_metadata

    first = new_run_metadata()
    time.sleep(0.002)
    second = new_run_metadata()
    assert second["started_at"] > first["started_at"]
