"""assay run --stop-when-decided and --items-from through the command line, against the stub server."""

import json
import urllib.request

from .servers import stub_server
from .test_cli_validation import assay, refused


def requests_served(url: str) -> int:
    with urllib.request.urlopen(url + "/stats", timeout=10) as reply:
        return json.loads(reply.read())["requests"]


def dataset(path, n=120):
    # the stub answers "42": right on every third item
    path.write_text(
        "".join(
            json.dumps({"id": f"q{i}", "input": f"question {i}", "target": "42" if i % 3 == 0 else str(i)}) + "\n"
            for i in range(n)
        )
    )
    return path


def test_equal_models_stop_as_equivalent_and_the_plain_command_completes_the_rest(tmp_path):
    data = dataset(tmp_path / "d.jsonl")
    with stub_server() as url:
        base = ["-m", "openai:a", "-m", "openai:b", "--base-url", url + "/v1", "--out", tmp_path / "r"]
        proc = assay("run", data, *base, "--stop-when-decided", "--margin", "0.2", "--batch", "5", "--json")
        seq = json.loads(proc.stdout)["sequential"]
        assert seq["stopped_early"] and seq["all_decided"] and seq["n_items"] == 120
        assert seq["pairs"][0]["decision"] == "equivalent" and seq["margin"] == 0.2 and seq["batch"] == 5
        assert seq["n_run"] % 5 == 0 and seq["n_run"] < 120
        assert requests_served(url) == 2 * seq["n_run"]
        assert json.loads((tmp_path / "r" / "sequential.json").read_text()) == seq
        table = assay("run", data, *base, "--stop-when-decided", "--margin", "0.2", "--batch", "5").stdout
        assert "Stop when decided: stopped after" in table and "equivalent" in table
        assert requests_served(url) == 2 * seq["n_run"]  # the same command again: nothing is called
        full = json.loads(assay("run", data, *base, "--json").stdout)
        assert "sequential" not in full
        assert requests_served(url) == 2 * 120
        assert all(m["n_items"] == 120 and m["cache_hits"] == seq["n_run"] for m in full["models"].values())


def test_items_from_runs_the_listed_ids_and_refuses_an_unknown_one(tmp_path):
    data = dataset(tmp_path / "d.jsonl")
    (tmp_path / "chosen.json").write_text(json.dumps({"items": ["q7", "q3", "q50"]}))
    (tmp_path / "wrong.txt").write_text("q7\nq999\n")
    with stub_server() as url:
        base = ["-m", "openai:a", "--base-url", url + "/v1"]
        result = json.loads(
            assay(
                "run", data, *base, "--items-from", tmp_path / "chosen.json", "--out", tmp_path / "r", "--json"
            ).stdout
        )
        assert result["models"]["openai:a"]["n_items"] == 3 and requests_served(url) == 3
        assert result["models"]["openai:a"]["score"] == 1 / 3  # q3 is right (target 42), q7 and q50 are not
        refused(
            assay("run", data, *base, "--items-from", tmp_path / "wrong.txt", "--out", tmp_path / "w", check=False),
            "wrong.txt",
            "'q999'",
            "not in",
        )
        assert not (tmp_path / "w").exists() and requests_served(url) == 3


def test_stop_options_need_the_flag_and_two_models(tmp_path):
    base = [
        "arithmetic",
        "-m",
        "openai:stub",
        "--base-url",
        "http://127.0.0.1:9/v1",
        "--no-cache",
        "--out",
        tmp_path / "r",
    ]
    for extra, fragment in (
        (["--alpha", "0.1"], "--stop-when-decided"),
        (["--batch", "4"], "--stop-when-decided"),
        (["--against", "x"], "--stop-when-decided"),
        (["--stop-when-decided"], "at least two"),
        (["-m", "openai:b", "--stop-when-decided", "--against", "c"], "--against 'c'"),
        (["-m", "openai:b", "--stop-when-decided", "--alpha", "1.5"], "alpha=1.5"),
    ):
        refused(assay("run", *base, *extra, check=False), fragment)
        assert not (tmp_path / "r").exists()
