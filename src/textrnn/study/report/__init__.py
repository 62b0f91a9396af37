"""A one-page report in the CVPR layout, generated from run directories.

``write_report(run_dirs, "report")`` reads each run's ``config.json`` and
``metrics.json``, writes ``report/report.tex`` and ``report/figure.pdf``, and compiles
them with ``pdflatex`` into ``report/report.pdf``. Every number on the page, in the
tables and in the prose, is computed from those files: nothing is typed by hand.

One module per job:

* :mod:`.runs` reads the run directories (the same checks as ``textrnn test``);
* :mod:`.text` composes the sentences and table cells (:mod:`.formatting`: escaping
  and number formats; :mod:`.figure`: the figure);
* :mod:`.latex` fills in the LaTeX templates shipped beside it (``template.tex``);
* :mod:`.build` fits the page and compiles it.

The built-in layout reproduces the CVPR page (two columns, 10-point Times, US
letter, a 6.875 x 8.875 in text block one inch from the top, 3.25 in columns
0.3125 in apart, the CVPR title block and headings). Given the official author kit
(a folder with ``cvpr.sty``), the report loads ``\\usepackage[final]{cvpr}`` instead.
If the text does not fit on one page, the tables and the figure are made smaller
until it does.
"""

from .build import DEFAULT_TITLE, OVERFULL_PT, ReportResult, write_report
from .runs import Run, load_runs
from .text import Report

__all__ = ["DEFAULT_TITLE", "OVERFULL_PT", "Report", "ReportResult", "Run", "load_runs",
           "write_report"]
