"""The README's pictures of what people read: the PM report's first screen, the top theme's Jira
issue and the Slack digest, as PNGs taken by headless Chromium.

    python tools/screenshots.py --label before|after --config demo/demo.toml

Reads what a run left (``make demo``: the warehouse, and the outbox its dry-run sinks wrote) and
writes docs/screenshots/{report,jira,digest}-LABEL.png:

- report: the page ``feedback-pipeline report`` writes, rendered by the code on the import path
  now, first screen only (1280x900);
- jira: the dry-run payload of the top-ranked theme that has one (outbox/jira/theme-ID.json),
  laid out like a Jira issue page; its wiki text goes through tools/jira_wiki.py, so the picture
  shows whatever the payload says, field for field;
- digest: the newest dry-run digest (outbox/slack/digest-DAY.json), its Block Kit laid out like
  a Slack channel with the thread reply open beside it (tools/slack_blocks.py).

Chromium comes from $FP_CHROMIUM or PATH (``make chromium``); the driver is the test suite's
(tests/report/browser.py). Emoji need a colour emoji font (Debian: fonts-noto-color-emoji).
"""

from __future__ import annotations

import argparse
import html
import importlib.util
import json
import re
import sys
import tempfile
from contextlib import closing
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import jira_wiki  # noqa: E402
import slack_blocks  # noqa: E402

REPORT_SIZE = (1280, 900)
PAGE_WIDTH = 1280
MAX_HEIGHT = 2400  # a long issue or digest is cut here: the README shows its top
PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'"
_ASSETS = ROOT / "tools" / "screenshot_pages.css"


def _browser_module():
    spec = importlib.util.spec_from_file_location("fp_browser", ROOT / "tests/report/browser.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def chromium():
    """The test suite's Chromium driver (tests/report/browser.py) and the binary; exits when
    there is no Chromium."""
    browser_mod = _browser_module()
    binary = browser_mod.find_chromium()
    if binary is None:
        raise SystemExit(f"Chromium not found: {browser_mod.INSTALL_HINT}")
    return browser_mod, binary


def _page(title: str, body: str, css_class: str) -> str:
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{PAGE_CSP}">'
            f"<title>{html.escape(title)}</title><style>{_ASSETS.read_text('utf-8')}</style>"
            f'</head><body class="{css_class}">{body}</body></html>')


def _field_text(value: object) -> str:
    """A Jira field value as a person reads it: names of objects, lists joined."""
    if isinstance(value, dict):
        for key in ("name", "value", "key", "displayName", "id"):
            if key in value:
                return str(value[key])
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return ", ".join(_field_text(v) for v in value) or "None"
    return "None" if value in (None, "") else str(value)


def jira_page(request: dict, *, theme_id: int, rank: int, source: Path) -> str:
    """A dry-run Jira create request laid out like an issue page."""
    fields = dict(request.get("fields", request))
    summary = str(fields.pop("summary", ""))
    description = fields.pop("description", "")
    project = _field_text(fields.pop("project", "")) or "?"
    if isinstance(description, str):
        body = jira_wiki.render(description)
    else:  # an Atlassian Document Format body: shown as sent rather than guessed at
        body = f"<pre>{html.escape(json.dumps(description, indent=2, ensure_ascii=False))}</pre>"
    order = ["issuetype", "priority", "labels", "components"]
    names = {"issuetype": "Type", "priority": "Priority", "labels": "Labels",
             "components": "Components"}
    details = "".join(
        f'<dt>{html.escape(names.get(k, k))}</dt><dd>{html.escape(_field_text(fields[k]))}</dd>'
        for k in sorted(fields, key=lambda k: (order.index(k) if k in order else len(order), k)))
    extra = {k: v for k, v in request.items() if k != "fields"}
    extra_html = "".join(
        f'<h3 class="extra">{html.escape(k)}</h3><pre>'
        f"{html.escape(json.dumps(v, indent=2, ensure_ascii=False))}</pre>"
        for k, v in extra.items())
    body_html = f"""
<div class="jira-top"><span class="logo">◆ Jira</span><span class="crumbs">Projects /
  {html.escape(project)} / {html.escape(project)}-? · dry-run preview, not filed</span></div>
<div class="jira-main">
  <div class="jira-issue">
    <h1>{html.escape(summary)}</h1>
    <div class="jira-desc-label">Description</div>
    <div class="jira-desc">{body}</div>{extra_html}
  </div>
  <aside class="jira-side"><div class="side-head">Details</div><dl>{details}</dl>
    <p class="provenance">theme {theme_id} · rank #{rank}<br>{html.escape(source.name)}</p>
  </aside>
</div>"""
    return _page(summary, body_html, "jira")


def digest_page(digest: dict, *, channel: str) -> str:
    """A dry-run digest laid out like a Slack channel, its thread reply open on the right."""
    when = html.escape(str(digest.get("date", "")))
    bot = ('<div class="avatar">FP</div><div class="msg-body"><div class="msg-meta">'
           f'<b>feedback-pipeline</b><span class="app">APP</span><span class="time">{when}'
           "</span></div>")
    thread = digest.get("thread") or {}
    replies = thread if isinstance(thread, list) else ([thread] if thread else [])
    reply_html = "".join(f'<div class="msg">{bot}{slack_blocks.message(r)}</div></div>'
                         for r in replies)
    count = (f'<div class="replies">{len(replies)} repl{"y" if len(replies) == 1 else "ies"}'
             "</div>") if replies else ""
    side = (f'<aside class="thread"><div class="thread-head">Thread <span>#{html.escape(channel)}'
            f"</span></div>{reply_html}</aside>") if replies else ""
    body_html = f"""
<div class="slack{' with-thread' if replies else ''}">
  <section class="channel"><div class="channel-head"># {html.escape(channel)}</div>
    <div class="msg">{bot}{slack_blocks.message(digest)}{count}</div></div></section>
  {side}
</div>"""
    return _page(f"#{channel}", body_html, "slack-page")


def _latest_digest(outbox: Path) -> Path:
    files = sorted((outbox / "slack").glob("digest-*.json"))
    if not files:
        raise SystemExit(f"no digest in {outbox / 'slack'}: run the pipeline with dry_run = true "
                         "first (`make demo`)")
    return files[-1]


def _top_jira(outbox: Path, ranking: list[dict]) -> tuple[Path, dict]:
    for theme in ranking:
        path = outbox / "jira" / f"theme-{theme['theme_id']}.json"
        if path.exists():
            return path, theme
    raise SystemExit(f"no Jira preview of a ranked theme in {outbox / 'jira'}: run the pipeline "
                     "with dry_run = true first (`make demo`)")


def _shoot(browser, page_html: Path, png: Path, *, height: int | None) -> Path:
    """A screenshot of ``page_html``: the first ``height`` pixels, or the whole page (capped)."""
    page = browser.new_page()
    try:
        page.call("Emulation.setDeviceMetricsOverride", width=PAGE_WIDTH,
                  height=height or REPORT_SIZE[1], deviceScaleFactor=1, mobile=False)
        page.open(page_html.as_uri())
        if errors := page.errors():
            raise SystemExit(f"{page_html.name} has errors:\n" + "\n".join(errors))
        if height is None:
            full = int(page.evaluate("document.documentElement.scrollHeight"))
            height = min(full, MAX_HEIGHT)
        return page.screenshot(png, width=PAGE_WIDTH, height=height)
    finally:
        page.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--label", required=True, help="before or after (file name suffix)")
    parser.add_argument("--config", type=Path, required=True, help="the run's TOML config")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args(argv)
    if not re.fullmatch(r"[a-z0-9-]+", args.label):
        parser.error("--label: lower-case letters, digits and '-' only (e.g. before, after)")

    from feedback_pipeline.config import load_settings
    from feedback_pipeline.rank.score import latest_ranking
    from feedback_pipeline.report.html import write_report
    from feedback_pipeline.warehouse import db

    settings = load_settings(args.config)
    warehouse, outbox = Path(settings.warehouse), Path(settings.deliver.outbox)
    if not warehouse.exists():
        raise SystemExit(f"no warehouse at {warehouse}: run `make demo` (or `feedback-pipeline "
                         f"run --config {args.config}`) first")
    browser_mod, binary = chromium()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with closing(db.connect(warehouse, read_only=True)) as con:
            ranking = latest_ranking(con)
            write_report(con, tmp / "report.html", jira_server=settings.deliver.jira.server)
        if not ranking:
            raise SystemExit(f"{warehouse} holds no ranking: run the pipeline first")
        jira_file, theme = _top_jira(outbox, ranking)
        (tmp / "jira.html").write_text(jira_page(
            json.loads(jira_file.read_text("utf-8")), theme_id=theme["theme_id"],
            rank=theme["rank"], source=jira_file), "utf-8")
        digest_file = _latest_digest(outbox)
        channel = settings.deliver.slack.channel.lstrip("#") or "customer-feedback"
        (tmp / "digest.html").write_text(digest_page(
            json.loads(digest_file.read_text("utf-8")), channel=channel), "utf-8")
        browser = browser_mod.Chromium(binary, tmp / "profile")
        try:
            for name, height in (("report", REPORT_SIZE[1]), ("jira", None), ("digest", None)):
                png = _shoot(browser, tmp / f"{name}.html", args.out / f"{name}-{args.label}.png",
                             height=height)
                print(f"wrote {png.relative_to(ROOT) if png.is_relative_to(ROOT) else png}")
        finally:
            browser.close()
    print(f"jira: theme {theme['theme_id']} (rank #{theme['rank']}) from {jira_file}; "
          f"digest: {digest_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
