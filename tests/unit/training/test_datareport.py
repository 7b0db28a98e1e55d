from __future__ import annotations

import pytest

from audiobench.errors import DataError
from audiobench.training.datareport import DataReport


def test_more_bad_clips_than_max_bad_fraction_of_the_run_stops_it() -> None:
    report = DataReport(["shards/"], {"speech": 100}, samples_per_epoch=1000, planned_samples=2000)
    report.add(["speech", "speech", "sound"], ["ok", "bad", "cut"])
    report.check_bad_fraction(0.001, "RUN/data_report.json")  # 1 bad <= 2 allowed
    report.add(["music", "speech"], ["bad", "bad"])
    with pytest.raises(DataError, match="3 undecodable or empty clips, more than max_bad_fraction=0.001 of the "
                                        "run's 2000 samples \\(listed in RUN/data_report.json\\)"):
        report.check_bad_fraction(0.001, "RUN/data_report.json")
    assert report.to_dict()["dropped"]["bad"] == {"speech": 2, "music": 1}
    assert report.to_dict()["cut_to_30s"] == {"sound": 1} and report.seen == 5
