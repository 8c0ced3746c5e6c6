"""training.data: every format loads, and every bad file fails with its file, line and reason."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from training.data import EMOTION_LABELS, MULTI, SINGLE, DataError, load_dataset


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_semicolon_file_uses_the_hub_label_order(tmp_path):
    data = load_dataset(
        write(tmp_path / "train.txt", "i am sad;sadness\nso scared;fear\nwow;surprise\nyay;joy\n")
    )
    assert data.texts == ["i am sad", "so scared", "wow", "yay"]
    # Ids follow dair-ai/emotion's order restricted to the labels present, not the file's order.
    assert data.label_names == ("sadness", "joy", "fear", "surprise")
    assert data.labels == [0, 2, 3, 1]
    assert data.problem_type == SINGLE


def test_semicolon_inside_the_text_keeps_the_last_field_as_label(tmp_path):
    data = load_dataset(write(tmp_path / "a.txt", "a; b; c;joy\nplain;sadness\n"))
    assert data.texts[0] == "a; b; c"


def test_folder_picks_the_split_file(tmp_path):
    write(tmp_path / "train.txt", "a;joy\nb;sadness\n")
    write(tmp_path / "val.txt", "c;joy\nd;sadness\ne;joy\n")
    assert len(load_dataset(tmp_path, "train")) == 2
    assert len(load_dataset(tmp_path, "validation")) == 3
    with pytest.raises(DataError, match="no test file"):
        load_dataset(tmp_path, "test")


@pytest.mark.parametrize(
    ("content", "line", "reason"),
    [
        ("good;joy\nno separator here\n", 2, "no ';'"),
        ("good;joy\n;sadness\n", 2, "empty text"),
        ("good;joy\nbad;\n", 2, "empty label"),
        ("good;joy\nmixed\t27\tid;joy\n", 2, "tab"),
    ],
)
def test_bad_semicolon_lines_name_file_line_and_reason(tmp_path, content, line, reason):
    path = write(tmp_path / "bad.txt", content)
    with pytest.raises(DataError, match=reason) as err:
        load_dataset(path)
    assert err.value.line == line
    assert str(err.value).startswith(f"{path}:{line}: ")


def test_eval_set_with_an_unknown_label_fails(tmp_path):
    path = write(tmp_path / "val.txt", "a;joy\nb;boredom\n")
    with pytest.raises(DataError, match="'boredom' is not one of") as err:
        load_dataset(path, label_names=EMOTION_LABELS)
    assert err.value.line == 2


def test_single_label_file_needs_two_labels(tmp_path):
    with pytest.raises(DataError, match="at least two different labels"):
        load_dataset(write(tmp_path / "one.txt", "a;joy\nb;joy\n"))


def test_goemotions_tsv_is_multi_label(tmp_path):
    write(tmp_path / "labels.txt", "admiration\namusement\nanger")
    path = write(tmp_path / "train.tsv", "great job\t0\tid1\nlol that is mad\t1,2\tid2\n")
    data = load_dataset(path)
    assert data.problem_type == MULTI
    assert data.label_names == ("admiration", "amusement", "anger")
    assert data.labels == [[0], [1, 2]]
    assert data.targets().tolist() == [[1, 0, 0], [0, 1, 1]]


@pytest.mark.parametrize(
    ("row", "reason"),
    [("text\t7\tid", "outside 0..2"), ("text\tx,1\tid", "integers"), ("only one field", "found 1 field")],
)
def test_bad_goemotions_rows(tmp_path, row, reason):
    write(tmp_path / "labels.txt", "a\nb\nc")
    path = write(tmp_path / "dev.tsv", f"fine\t0\tid0\n{row}\n")
    with pytest.raises(DataError, match=reason) as err:
        load_dataset(path)
    assert err.value.line == 2


def test_goemotions_without_label_names_says_what_to_do(tmp_path):
    with pytest.raises(DataError, match="labels.txt"):
        load_dataset(write(tmp_path / "train.tsv", "x\t0\tid\n"))


def test_csv_with_custom_columns(tmp_path):
    path = write(tmp_path / "d.csv", 'id,message,emotion\n1,"hello, world",joy\n2,meh,sadness\n')
    data = load_dataset(path, text_column="message", label_column="emotion")
    assert data.texts == ["hello, world", "meh"]
    with pytest.raises(DataError, match="header lacks column"):
        load_dataset(path)


def test_csv_row_with_missing_fields(tmp_path):
    path = write(tmp_path / "d.csv", "text,label\nok,joy\nbroken\nfine,sadness\n")
    with pytest.raises(DataError, match="wrong number of fields") as err:
        load_dataset(path)
    assert err.value.line == 3


def test_jsonl_single_and_multi_label(tmp_path):
    single = write(tmp_path / "s.jsonl", '{"text": "a", "label": "joy"}\n{"text": "b", "label": "anger"}\n')
    assert load_dataset(single).label_names == ("joy", "anger")
    multi = write(tmp_path / "m.jsonl", '{"text": "a", "label": [0, 1]}\n{"text": "b", "label": [2]}\n')
    data = load_dataset(multi, label_names=["x", "y", "z"])
    assert data.problem_type == MULTI and data.labels == [[0, 1], [2]]


def test_jsonl_mixed_single_and_multi_label_fails(tmp_path):
    rows = [{"text": "a", "label": "joy"}, {"text": "b", "label": ["joy"]}]
    path = write(tmp_path / "mixed.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")
    with pytest.raises(DataError, match="like the first row") as err:
        load_dataset(path)
    assert err.value.line == 2


def test_jsonl_bad_json_names_the_line(tmp_path):
    path = write(tmp_path / "bad.jsonl", '{"text": "a", "label": "joy"}\n{"text": \n')
    with pytest.raises(DataError, match="not a JSON object") as err:
        load_dataset(path)
    assert err.value.line == 2


def test_hub_name_offline_explains_the_alternative(tmp_path):
    """`--data go_emotions` reaches the hub through the `datasets` library; offline (forced here, with
    an empty cache, in a fresh process: `datasets` reads these at import) it says what to do instead."""
    import subprocess
    import sys

    code = ("from training.data import load_dataset, DataError\n"
            "try:\n    load_dataset('go_emotions')\nexcept DataError as err:\n    print(err)\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert "google-research-datasets/go_emotions" in out.stdout, out.stderr[-2000:]
    assert "offline, pass a local folder" in out.stdout


def test_unknown_file_type_and_missing_path(tmp_path):
    with pytest.raises(DataError, match="unknown file type"):
        load_dataset(write(tmp_path / "x.parquet", "?"))
    with pytest.raises(DataError, match="no such file"):
        load_dataset(tmp_path / "nothing.txt")


def test_head_is_a_seeded_sample(tmp_path):
    lines = "".join(f"text {i};{'joy' if i % 2 else 'sadness'}\n" for i in range(50))
    data = load_dataset(write(tmp_path / "t.txt", lines))
    a, b = data.head(10, seed=3), data.head(10, seed=3)
    assert a.texts == b.texts and len(a) == 10
    assert all(data.labels[data.texts.index(t)] == y for t, y in zip(a.texts, a.labels, strict=True))


def test_the_selection_slice_is_the_same_rows_in_any_order_and_never_splits_a_text(tmp_path):
    lines = [f"text number {i};{'joy' if i % 2 else 'sadness'}\n" for i in range(2000)]
    lines += ["a repeated text;joy\n"] * 5
    data = load_dataset(write(tmp_path / "t.txt", "".join(lines)))
    rest, held = data.split_off(0.1)
    assert len(rest) + len(held) == len(data)
    assert 150 < len(held) < 250  # about a tenth
    assert not set(rest.texts) & set(held.texts)  # a repeated text lands on one side only
    assert all(data.labels[data.texts.index(t)] == y for t, y in zip(held.texts, held.labels, strict=True))
    shuffled = load_dataset(write(tmp_path / "r.txt", "".join(reversed(lines))))
    assert set(shuffled.split_off(0.1)[1].texts) == set(held.texts)
    assert "selection slice 0.1" in held.source
    assert len(data.split_off(0.0)[1]) == 0
