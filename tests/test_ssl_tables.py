"""Smoke test of benchmarks/ssl_tables.py: --quick sizes, results in a temporary directory.

Checks the result files and their rows, not the quality (3 steps of 32 digits learn nothing).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))


def load(path: Path) -> dict:
    result = json.loads(path.read_text())
    assert result["format"] == "hjepa.benchmark/1"
    assert result["rows"] and result["machine"]["torch_threads"] >= 1
    return result


def test_ssl_tables_quick(tmp_path):
    import ssl_tables
    import update_results

    config = ssl_tables.Config(quick=True, throughput_threads=(1,), out_dir=tmp_path)
    paths = [ssl_tables.table_ablation(config, runner := ssl_tables.Runner(config), "table5"),
             ssl_tables.table_methods(config, runner)]
    table5, methods = (load(p) for p in paths)
    assert [r["method"] for r in table5["rows"]] == ["vicreg-inv", "vicreg-inv-cov", "vicreg-inv-var", "vicreg",
                                                     "random-init"]
    assert [r.get("expected_collapse") for r in table5["rows"]] == [True, True, False, False, None]
    assert all(isinstance(r["matches_paper"], bool) for r in table5["rows"][:4])
    assert [r["method"] for r in methods["rows"]] == ssl_tables.METHOD_ROWS
    for row in table5["rows"] + methods["rows"]:
        assert 0.0 <= row["linear_acc"] <= 1.0 and 0.0 <= row["knn_acc"] <= 1.0
        assert row["effective_rank"] >= 1.0 and isinstance(row["collapsed"], bool) and row["command"]
        assert row["train_seconds"] >= 0.0
    vicreg = next(r for r in methods["rows"] if r["method"] == "vicreg")
    assert vicreg["command"].startswith("hjepa ssl train") and "--steps 3" in vicreg["command"]
    assert vicreg["images_per_second"] > 0
    # vicreg is shared by table5 and methods: trained once.
    assert vicreg["linear_acc"] == table5["rows"][3]["linear_acc"]

    # --reuse: rows already in out_dir are taken from there, not trained again.
    again = load(ssl_tables.table_ablation(ssl_tables.Config(quick=True, reuse=True, out_dir=tmp_path),
                                           ssl_tables.Runner(ssl_tables.Config(quick=True, reuse=True, out_dir=tmp_path)),
                                           "table5"))
    assert all(r["reused_from"].startswith("ssl_") for r in again["rows"])
    assert [r["linear_acc"] for r in again["rows"]] == [r["linear_acc"] for r in table5["rows"]]

    throughput = load(ssl_tables.table_throughput(ssl_tables.Config(quick=True, throughput_threads=(1,), out_dir=tmp_path)))
    assert {(r["backbone"], r["precision"]) for r in throughput["rows"]} == {
        (b, p) for b in ("convnet", "resnet18", "vit") for p in ("fp32", "bf16")}
    assert all(r["images_per_second"] > 0 for r in throughput["rows"])

    text = update_results.main(update_results.Config(results_dir=tmp_path, out=tmp_path / "RESULTS.md")).read_text()
    assert "VICReg loss-term ablation" in text and "random-init encoder (floor)" in text
