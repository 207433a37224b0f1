"""A history's entries on disk: the key that decides resume, and their round trip."""

from __future__ import annotations

from pathlib import Path

from conformance.history.store import (
    INSTALL_FAILED,
    OK,
    Entry,
    is_done,
    load,
    load_all,
    release_key,
    save,
    slug,
)

PINS = ("tensorflow-cpu==2.16.2", "tf-keras==2.16.0")


def key(**change: str) -> str:
    parts = {"python": "3.11", "suite_version": "0.1.0", "case_set": "abc"} | change
    return release_key(PINS, ("tf_keras", "tensorflow"), parts["python"],
                       parts["suite_version"], parts["case_set"])


def test_the_key_names_pins_frameworks_python_suite_and_case_set() -> None:
    assert key() == release_key(tuple(reversed(PINS)), ("tensorflow", "tf_keras"), "3.11",
                                "0.1.0", "abc"), "order of pins or frameworks is no change"
    others = {key(python="3.12"), key(suite_version="0.2.0"), key(case_set="abd"),
              release_key(PINS[:1], ("tf_keras", "tensorflow"), "3.11", "0.1.0", "abc"),
              release_key(PINS, ("tensorflow",), "3.11", "0.1.0", "abc")}
    others.add(release_key(PINS, ("tf_keras", "tensorflow"), "3.11", "0.1.0", "abc",
                           ('tensorflow ; sys_platform == "never"',)))
    assert key() not in others and len(others) == 6, "another install recipe is a new key"


def test_an_entry_round_trips_with_its_pairing(tmp_path: Path) -> None:
    entry = Entry("tensorflow-cpu", "2.16.2", PINS, ("tf_keras",), key(), "0.1.0", "abc", OK,
                  bounds=("keras<=3.15.1",), companions={"keras": "3.15.1",
                                                         "tf-keras": "2.16.0"},
                  behaviours=[{"behaviour": "momentum_default", "value": "0.99"}])
    path = save(tmp_path, entry)
    assert path == tmp_path / "releases" / slug(PINS) / "entry.json"
    assert slug(PINS) == "tensorflow-cpu-2.16.2+tf-keras-2.16.0"
    assert load(tmp_path, PINS) == entry
    assert entry.companions_text() == "keras==3.15.1 tf-keras==2.16.0"


def test_resume_needs_the_same_key_and_an_outcome(tmp_path: Path) -> None:
    assert is_done(tmp_path, PINS, key()) is None
    save(tmp_path, Entry("tensorflow-cpu", "2.16.2", PINS, (), key(), status=INSTALL_FAILED,
                         reason="no wheel"))
    done = is_done(tmp_path, PINS, key())
    assert done is not None and done.reason == "no wheel", "a failure is remembered too"
    assert is_done(tmp_path, PINS, key(case_set="other")) is None, "a new case set reruns"
    save(tmp_path, Entry("tensorflow-cpu", "2.16.2", PINS, (), key(), status=""))
    assert is_done(tmp_path, PINS, key()) is None, "an entry without outcome is unfinished"


def test_load_all_skips_unreadable_entries(tmp_path: Path) -> None:
    save(tmp_path, Entry("keras", "3.0.0", ("keras==3.0.0",), (), "k", status=OK))
    bad = tmp_path / "releases" / "keras-3.0.1" / "entry.json"
    bad.parent.mkdir(parents=True)
    bad.write_text("{not json")
    (tmp_path / "releases" / "keras-3.0.2").mkdir()  # a run interrupted before its entry
    assert [e.version for e in load_all(tmp_path)] == ["3.0.0"]
    assert load_all(tmp_path / "nothing") == []
