"""`corocrawl report`: one self-contained HTML page of a fetch's or a crawl's records.

records (read them, one line at a time) -> aggregate (fixed-size figures: bounded, redirects)
-> html (the page, with svg's charts) <- write (write_report: the whole path, file to file).
"""

from .write import ReportSummary, write_report

__all__ = ["ReportSummary", "write_report"]
