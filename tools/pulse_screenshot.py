"""The README's picture of the report's Community pulse section, taken by headless Chromium.

    python tools/pulse_screenshot.py --config demo/demo.toml [--out docs/screenshots/report-pulse.png]

Writes the report of the warehouse a run left (``make demo``) with the code on the import path,
opens it, keeps only the page header and the ``#pulse`` section on screen, and shoots them.
Chromium: $FP_CHROMIUM or PATH (``make chromium``), driven by tests/report/browser.py.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from contextlib import closing
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from screenshots import PAGE_WIDTH, chromium  # noqa: E402

ONLY_PULSE = """(() => {
  for (const el of document.querySelectorAll("nav.filters, main > *:not(#pulse)"))
    el.style.display = "none";
  const bottom = document.getElementById("pulse").getBoundingClientRect().bottom;
  return Math.ceil(bottom + window.scrollY) + 24; })()"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, required=True, help="the run's TOML config")
    parser.add_argument("--out", type=Path, default=ROOT / "docs/screenshots/report-pulse.png")
    args = parser.parse_args(argv)

    from feedback_pipeline.config import load_settings
    from feedback_pipeline.report.html import write_report
    from feedback_pipeline.warehouse import db

    settings = load_settings(args.config)
    if not Path(settings.warehouse).exists():
        raise SystemExit(f"no warehouse at {settings.warehouse}: run `make demo` first")
    browser_mod, binary = chromium()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with closing(db.connect(settings.warehouse, read_only=True)) as con:
            write_report(con, tmp / "report.html", jira_server=settings.deliver.jira.server,
                         pulse=settings.pulse)
        if 'id="pulse"' not in (tmp / "report.html").read_text("utf-8"):
            raise SystemExit("the report has no Community pulse section: no source brings "
                             "threads (see README 'Community pulse')")
        browser = browser_mod.Chromium(binary, tmp / "profile")
        try:
            page = browser.new_page()
            page.open((tmp / "report.html").as_uri())
            if errors := page.errors():
                raise SystemExit("the report has errors:\n" + "\n".join(errors))
            height = int(page.evaluate(ONLY_PULSE))
            page.screenshot(args.out, width=PAGE_WIDTH, height=height)
            page.close()
        finally:
            browser.close()
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
