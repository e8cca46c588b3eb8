"""Typed records: journal records, the one journal reader (repair vs read-only), summary.json."""

import json
import math

import pytest

from embench.cli import main
from embench.journal import Journal, JournalError, read_journal
from embench.records import RecordError, StudyHeader, TrialRecord, TrialStatus, parse_record
from embench.space import Dimension
from embench.summary import FORMAT_VERSION, RunSummary, SummaryError
from tests.helpers import STUDY_BENCHMARK, write_benchmark


def header(**extra):
    return StudyHeader(
        study="search",
        optimiser="uniform",
        optimiser_options={"avoid_repeats": True},
        embedder="random",
        fixed={"delay": 0.0},
        space={"dim": Dimension(2, 16, integer=True), "lr": Dimension(1e-3, 0.1, log=True)},
        objectives=[{"key": "hitrate", "direction": "max"}],
        scalarised=None,
        seed=5,
        time_budget=1.25,
        **extra,
    )


def trial(number, status="ok", hitrate=0.5, **extra):
    ok = status == "ok"
    return TrialRecord(
        number=number,
        status=status,
        error=None if ok else "boom",
        params={"dim": 4 + number, "delay": 0.0},
        metrics={"hitrate": hitrate, "queries": 12} if ok else {},
        train_seconds=0.25,
        eval_seconds={"next_song": 0.125} if ok else {},
        suggested={"dim": 4 + number},
        objectives=[hitrate if ok else math.nan],
        **extra,
    )


def default():
    record = trial(-1).model_copy(update={"kind": "default", "suggested": None})
    return TrialRecord.from_json(record.to_json(), "here")


def through_json(record):
    """What a record becomes after a write and a read."""
    return parse_record(json.loads(json.dumps(record.to_json(), allow_nan=False)), "here")


# -- records --------------------------------------------------------------------------------------
def test_records_round_trip_through_json():
    for record in (header(), header(subsample=0.25), default(), trial(0), trial(1, "infeasible")):
        again = through_json(record)
        assert type(again) is type(record)
        assert again.to_json() == record.to_json()
    assert through_json(trial(3)) == trial(3)
    assert through_json(header()).differences(header()) == []


def test_written_form_is_the_journal_format():
    written = trial(2, "failed").to_json()
    assert list(written) == [
        *("kind", "number", "status", "error", "params", "metrics"),
        *("train_seconds", "eval_seconds", "suggested", "objectives"),
    ]
    assert written["status"] == "failed" and written["objectives"] == [None]  # NaN -> null
    assert "suggested" not in default().to_json()  # an unset optional key is left out
    assert "subsample" not in header().to_json() and header(subsample=0.5).to_json()["subsample"]
    assert header().to_json()["space"]["dim"] == {
        "low": 2,
        "high": 16,
        "log": False,
        "integer": True,
    }


def test_status_enum_and_feasibility():
    assert [s.value for s in TrialStatus] == ["ok", "infeasible", "failed", "skipped"]
    assert through_json(trial(0)).status is TrialStatus.OK
    assert trial(0).feasible and not trial(0, "infeasible").feasible
    assert not through_json(trial(0, hitrate=math.nan)).feasible  # null objective after a read
    skipped = through_json(trial(4, "skipped", predicted_seconds=3.5))
    assert skipped.status is TrialStatus.SKIPPED and skipped.to_json()["predicted_seconds"] == 3.5


def test_unknown_keys_survive_a_round_trip():
    data = {**trial(0).to_json(), "fidelity": {"rate": 0.1}}
    assert TrialRecord.from_json(data, "here").to_json() == data


def test_header_differences_name_the_changed_keys():
    other = header(subsample=0.5).model_copy(update={"seed": 6})
    assert header().differences(other) == ["seed", "subsample"]


@pytest.mark.parametrize(
    "data, message",
    [
        (None, "here: expected a journal record (a JSON object), found null"),
        ([1, 2], "found a list"),
        ({"number": 1}, "a journal record has no 'kind'"),
        ({"kind": "bracket"}, "kind 'bracket'; expected one of header, default, trial"),
        ({**trial(0).to_json(), "status": None}, "'status': input should be 'ok'"),
        ({**trial(0).to_json(), "number": "one"}, "'number': input should be a valid integer"),
        ({**trial(0).to_json(), "status": "maybe"}, "(found 'maybe')"),
        ({**header().to_json(), "space": {"dim": {"low": 3, "high": 2}}}, "empty range [3.0, 2.0]"),
    ],
)
def test_bad_records_name_where_and_what(data, message):
    with pytest.raises(RecordError) as caught:
        parse_record(data, "here")
    assert message in str(caught.value)


@pytest.mark.parametrize("key", ["number", "status", "metrics", "objectives", "suggested"])
def test_a_trial_lacking_a_key_is_refused(key):
    data = trial(0).to_json()
    del data[key]
    with pytest.raises(RecordError, match=f"here: the trial record lacks '{key}'"):
        parse_record(data, "here")


# -- the journal reader ---------------------------------------------------------------------------
@pytest.fixture
def journal_path(tmp_path):
    journal = Journal(tmp_path / "journal.jsonl")
    for record in (header(), default(), trial(0), trial(1, "infeasible"), trial(2)):
        journal.append(record)
    return journal.path


def lines_of(path):
    return path.read_text().splitlines()


def write_lines(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path.read_bytes()


@pytest.mark.parametrize("repair", [True, False])
def test_reads_back_what_was_appended(journal_path, repair):
    contents = read_journal(journal_path, repair=repair)
    assert contents.header.to_json() == header().to_json()
    assert contents.default.to_json() == default().to_json()
    assert [t.to_json() for t in contents.trials] == [
        t.to_json() for t in (trial(0), trial(1, "infeasible"), trial(2))
    ]
    assert not contents.corrupt_tail and contents.set_aside is None


def test_missing_or_empty_journal_reads_as_empty(tmp_path):
    assert read_journal(tmp_path / "none.jsonl", repair=True).empty
    (tmp_path / "empty.jsonl").write_text("\n\n")
    assert read_journal(tmp_path / "empty.jsonl", repair=False).empty


def test_cut_last_line_is_set_aside_in_repair_mode(journal_path):
    lines = lines_of(journal_path)
    cut = lines[-1][:25]
    write_lines(journal_path, [*lines[:-1], cut])
    contents = read_journal(journal_path, repair=True)
    assert contents.corrupt_tail and [t.number for t in contents.trials] == [0, 1]
    assert contents.set_aside == journal_path.with_name("journal.jsonl.corrupt")
    assert contents.set_aside.read_text() == cut + "\n"
    assert lines_of(journal_path) == lines[:-1]  # the journal no longer has the cut line
    again = read_journal(journal_path, repair=True)
    assert not again.corrupt_tail and len(again.trials) == 2


def test_cut_last_line_is_only_reported_in_read_only_mode(journal_path):
    lines = lines_of(journal_path)
    before = write_lines(journal_path, [*lines[:-1], lines[-1][:25]])
    contents = read_journal(journal_path, repair=False)
    assert contents.corrupt_tail and contents.set_aside is None
    assert [t.number for t in contents.trials] == [0, 1]
    assert journal_path.read_bytes() == before
    assert not journal_path.with_name("journal.jsonl.corrupt").exists()


@pytest.mark.parametrize("repair", [True, False])
@pytest.mark.parametrize(
    "damage, message",
    [
        (
            lambda lines: [*lines[:3], lines[3][:20], *lines[4:]],
            "line 4 is corrupt and is not the last line",
        ),
        (
            lambda lines: [*lines, "null"],
            "line 6: expected a journal record (a JSON object), found null",
        ),
        (lambda lines: [*lines[:2], "null", *lines[2:]], "line 3: expected a journal record"),
        (
            lambda lines: [*lines, "[]"],
            "line 6: expected a journal record (a JSON object), found a list",
        ),
        (
            lambda lines: [*lines, '{"kind": "trial", "number": 3}'],
            "line 6: the trial record lacks 'status'",
        ),
        (lambda lines: [*lines, "{}"], "line 6: a journal record has no 'kind'"),
        (lambda lines: lines[1:], "line 1: the first record is not a study header"),
        (
            lambda lines: [lines[0].replace('"seed":5,', ""), *lines[1:]],
            "line 1: the study header lacks 'seed'",
        ),
    ],
)
def test_other_damage_names_file_and_line_in_both_modes(journal_path, repair, damage, message):
    before = write_lines(journal_path, damage(lines_of(journal_path)))
    with pytest.raises(JournalError) as caught:
        read_journal(journal_path, repair=repair)
    text = str(caught.value)
    assert str(journal_path) in text and message in text
    assert "fix or remove that line" in text
    assert journal_path.read_bytes() == before  # never modified
    assert not journal_path.with_name("journal.jsonl.corrupt").exists()


def test_duplicates_are_counted_and_unique_trials_keep_the_first(journal_path):
    lines = lines_of(journal_path)
    changed = json.loads(lines[2])
    changed["metrics"]["hitrate"] = 0.1
    write_lines(journal_path, [*lines, json.dumps(changed)])
    contents = read_journal(journal_path, repair=False)
    assert len(contents.trials) == 4 and contents.duplicates == 1
    assert [t.number for t in contents.unique_trials()] == [0, 1, 2]
    assert contents.unique_trials()[0].metrics["hitrate"] == 0.5


def test_run_and_report_refuse_a_damaged_journal_with_exit_2(tmp_path, test_plugin, capsys):
    bench = write_benchmark(tmp_path, STUDY_BENCHMARK)
    out = tmp_path / "out"
    args = ["run", str(bench), "--output", str(out), "--quiet"]
    assert main(args) == 0
    path = out / "studies" / "search" / "journal.jsonl"
    lines = lines_of(path)
    capsys.readouterr()
    for damaged, message in (
        ([*lines, "null"], f"{path}: line {len(lines) + 1}: expected a journal record"),
        ([*lines[:-1], '{"kind": "trial", "number": 9}'], "the trial record lacks 'status'"),
    ):
        before = write_lines(path, damaged)
        for command in (args, ["report", str(out)]):
            assert main(command) == 2
            assert message in " ".join(capsys.readouterr().err.split())
            assert path.read_bytes() == before


# -- summary.json ---------------------------------------------------------------------------------
def summary(**extra):
    return RunSummary.from_json(
        {
            "format_version": FORMAT_VERSION,
            "benchmark": "tiny",
            "seed": 5,
            "evaluated_on": "test",
            "versions": {"embench": "0.1.0"},
            "compared_with": "default",
            "configurations": [
                {
                    "name": "default",
                    "embedder": "random",
                    "params": {"dim": 8},
                    "status": "ok",
                    "error": None,
                    "study": None,
                    "train_seconds": 0.1,
                    "eval_seconds": {"next_song": 0.01},
                    "metrics": {"hitrate": 0.25, "ndcg": float("nan")},
                    "tables": {},
                    "marks": {},
                },
                {"name": "broken", "status": "failed", "error": "boom", "marks": {}},
            ],
            "studies": {
                "search": {
                    "trials": 2,
                    "ok": 1,
                    "infeasible": 1,
                    "failed": 0,
                    "train_seconds": 0.5,
                    "wall_seconds_this_run": 1.0,
                    "optimisation_seconds": 0.75,
                    "journal": "studies/search/journal.jsonl",
                    "default": {"params": {}, "metrics": {"hitrate": 0.2}, "train_seconds": 0.1},
                    "best": [{"number": 0, "params": {}, "objectives": [0.3], "metrics": {}}],
                }
            },
            **extra,
        },
        "here",
    )


def test_summary_round_trips_through_disk(tmp_path):
    written = summary(fingerprint={"data": "abc"})  # an unknown key is kept
    written.to_disk(tmp_path / "summary.json")
    read = RunSummary.from_disk(tmp_path)  # a run directory names its summary.json
    assert read.to_json() == written.to_json()  # NaN written as null, read back as None
    assert read.configurations[0].metrics == {"hitrate": 0.25, "ndcg": None}  # NaN -> null
    assert read.configuration("broken").status is TrialStatus.FAILED
    assert "metrics" not in read.configuration("broken").to_json()  # not scored: no key
    assert read.studies["search"].skipped == 0 and read.to_json()["fingerprint"] == {"data": "abc"}
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert on_disk["format_version"] == FORMAT_VERSION and "source" not in on_disk
    assert on_disk == read.to_json()
    broken = on_disk["configurations"][1]  # not scored: no metrics key at all, at any level
    assert "metrics" not in broken and "tables" not in broken and broken["error"] == "boom"


@pytest.mark.parametrize(
    "version, message",
    [
        (
            FORMAT_VERSION + 1,
            f"results format_version {FORMAT_VERSION + 1} (written by embench 0.1.0)",
        ),
        (FORMAT_VERSION - 1, f"this embench reads format_version {FORMAT_VERSION}"),
        ("1", "results format_version 1 (written by embench 0.1.0)"),
        (None, "no format_version"),
    ],
)
def test_summary_of_another_format_version_is_refused(tmp_path, version, message):
    data = summary().to_json()
    if version is None:
        del data["format_version"]
    else:
        data["format_version"] = version
    (tmp_path / "summary.json").write_text(json.dumps(data))
    with pytest.raises(SummaryError) as caught:
        RunSummary.from_disk(tmp_path / "summary.json")
    assert message in str(caught.value) and str(tmp_path / "summary.json") in str(caught.value)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d.pop("configurations"), "lacks configurations; the file is incomplete"),
        (
            lambda d: d["configurations"][1].pop("status"),
            "'configurations.1.status': field required",
        ),
        (lambda d: d["configurations"].append(None), "'configurations.2'"),
        (lambda d: d["studies"]["search"].pop("best"), "'studies.search.best': field required"),
    ],
)
def test_a_damaged_summary_names_the_key(tmp_path, change, message):
    data = summary().to_json()
    change(data)
    (tmp_path / "summary.json").write_text(json.dumps(data))
    with pytest.raises(SummaryError, match="summary.json") as caught:
        RunSummary.from_disk(tmp_path)
    assert message in str(caught.value)
    (tmp_path / "summary.json").write_text("null")
    with pytest.raises(SummaryError, match="expected a JSON object"):
        RunSummary.from_disk(tmp_path)
