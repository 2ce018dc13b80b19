"""``feedback-pipeline cluster``: the flow's clean/embed/cluster/label stages on any file of texts.

The file is loaded into an in-memory warehouse through the same ingest path as the nightly flow,
so what this command finds is what the flow would find on the same texts.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from feedback_pipeline.clean.stage import clean_pending
from feedback_pipeline.cluster.corpus import cluster_corpus
from feedback_pipeline.cluster.label import label_themes
from feedback_pipeline.config import load_settings
from feedback_pipeline.embed.embedder import get_embedder
from feedback_pipeline.embed.stage import embed_pending
from feedback_pipeline.errors import ConfigError, RecordError
from feedback_pipeline.ingest.source import Batch
from feedback_pipeline.ingest.stage import save_batch
from feedback_pipeline.markup import clean, write_csv
from feedback_pipeline.records import Item
from feedback_pipeline.warehouse.db import connect

SOURCE = "adhoc"
ID_MAX, TITLE_MAX = 200, 300


def read_table(path: Path) -> list[dict]:
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        rows = []
        for n, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise RecordError(f"{path.name}:{n}: malformed JSON: {exc.msg}") from exc
        return rows
    if path.suffix.lower() == ".csv":
        return list(csv.DictReader(io.StringIO(text, newline="")))
    raise ConfigError(f"{path}: expected a .csv or .jsonl file")


def cluster_file(
    input_path: Path, output: Path, *, text_column: str = "text", id_column: str | None = None,
    label_column: str | None = None, config_path: Path | None = None,
) -> dict:
    """Cluster the texts of a CSV/JSONL file; write (id, theme_id, theme_title) per record."""
    settings = load_settings(config_path)
    rows = read_table(input_path)
    if rows and text_column not in rows[0]:
        raise ConfigError(f"{input_path.name} has no column {text_column!r}; columns: "
                          f"{', '.join(rows[0])} (use --text-column)")
    ids = [str(r.get(id_column, "")) if id_column else str(i) for i, r in enumerate(rows, start=1)]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"column {id_column!r} has duplicate ids; pick a unique --id-column")
    now = datetime.now(UTC)
    items = [Item(source=SOURCE, kind="community_post", external_id=i, created_at=now,
                  updated_at=now, body=str(r.get(text_column) or "")) for i, r in zip(ids, rows, strict=True)]
    con = connect(":memory:")
    save_batch(con, SOURCE, Batch(items=items), run_id="adhoc", salt="adhoc",
               bots=settings.clean.bots())
    clean_pending(con, settings.clean)
    embed_pending(con, get_embedder(settings.embed))
    c = cluster_corpus(con, settings.embed.vector_key, settings.cluster)
    embedder = get_embedder(settings.embed)
    labels = label_themes(c.texts, c.labels, c.similarity, settings.label, vectors=c.X,
                          embed=embedder.embed if settings.label.rerank_titles else None) \
        if len(c.X) else {}
    theme_by_id = {ext: int(c.labels[row]) for (_, ext), row in zip(c.keys, c.item_rows.tolist(), strict=True)}
    output.parent.mkdir(parents=True, exist_ok=True)
    # Like every output: ids and titles redacted and bounded, formula-like cells neutralised
    # (rows stay in input order, so a redacted id still lines up with its record).
    titles = {t: clean(label.title, TITLE_MAX) for t, label in labels.items()}
    with output.open("w", newline="", encoding="utf-8") as fh:
        write_csv(fh, [["id", "theme_id", "theme_title"],
                       *([clean(i, ID_MAX), theme_by_id.get(i, -1),
                          titles.get(theme_by_id.get(i, -1), "")] for i in ids)])
    assigned = np.array([theme_by_id.get(i, -1) for i in ids])
    summary = {"records": len(ids), "themes": len(labels),
               "noise_fraction": round(float((assigned == -1).mean()), 4) if ids else 0.0,
               "output": str(output)}
    if label_column:
        from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

        truth = [str(r.get(label_column, "")) for r in rows]
        summary["nmi"] = round(normalized_mutual_info_score(truth, assigned), 4)
        summary["ari"] = round(adjusted_rand_score(truth, assigned), 4)
    return summary


__all__ = ["cluster_file", "read_table"]
