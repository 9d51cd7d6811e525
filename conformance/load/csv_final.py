"""``--csv`` files that hold the whole run: locust (2.47) rewrites them once a second while the
run goes on, and closes them at the end without a last write, so everything measured in the run's
last second, the streams the stop cut short among it, was missing (seen: a 6 s run whose
``_stats.csv`` held only an empty Aggregated row). Before the files close, once every user has
stopped, their final contents are written here.
"""

from __future__ import annotations

import time

from locust.stats import StatsCSVFileWriter

__all__: list[str] = []

_close_files = StatsCSVFileWriter.close_files


def _write_final_then_close(self: StatsCSVFileWriter) -> None:
    for handle, writer, columns, rows in (
        (self.requests_csv_filehandle, self.requests_csv_writer, self.requests_csv_columns, self._requests_data_rows),
        (self.failures_csv_filehandle, self.failures_csv_writer, self.failures_columns, self._failures_data_rows),
        (
            self.exceptions_csv_filehandle,
            self.exceptions_csv_writer,
            self.exceptions_columns,
            self._exceptions_data_rows,
        ),
    ):
        handle.seek(0)
        writer.writerow(columns)
        rows(writer)
        handle.truncate()
    self._stats_history_data_rows(self.stats_history_csv_writer, time.time())
    _close_files(self)


StatsCSVFileWriter.close_files = _write_final_then_close  # type: ignore[method-assign]
