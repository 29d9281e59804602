"""Text corpora and character models: reading, splitting, vocabulary errors, sampling, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from real_data import needs
from test_cli import run

import scratchnet as sn
from scratchnet.data import DatasetError
from scratchnet.data.text import Vocabulary, read_corpus, split_corpus, windows
from scratchnet.generate import sample_text


def test_empty_or_non_utf8_corpus_names_the_file(tmp_path):
    empty, latin = tmp_path / "empty.txt", tmp_path / "latin1.txt"
    empty.write_bytes(b"")
    latin.write_bytes("Caf\xe9 de Fran\xe7a".encode("latin-1"))
    with pytest.raises(DatasetError, match=r"empty\.txt: the text file is empty"):
        read_corpus(empty)
    with pytest.raises(DatasetError, match=r"latin1\.txt: not UTF-8 text \(byte 0xe9 at offset 3\)"):
        read_corpus(latin)


def test_windows_predict_the_next_character():
    vocab, (x, y, xv, _) = split_corpus("abcdefghij" * 20, seq_len=4)
    assert vocab.chars == "abcdefghij" and x.shape[1] == 4
    np.testing.assert_array_equal(y[:, :-1], x[:, 1:])  # targets are the inputs shifted by one
    assert vocab.decode(x[0]) == "abcd" and vocab.decode(y[0]) == "bcde"
    assert len(x) == (180 - 1) // 4 and len(xv) == (20 - 1) // 4  # first 90% / last 10%
    with pytest.raises(DatasetError, match="too short"):
        windows(np.arange(3), 4)


def test_unknown_characters_are_a_clear_error():
    with pytest.raises(ValueError, match=r"characters not in the model's vocabulary of 3: '!z'"):
        Vocabulary("abc").encode("a!bz")


def test_sampling_is_seeded_and_restores_the_model():
    model = sn.zoo.build("char-lstm", in_shape=(8,), num_classes=3, rng=0, hidden=8, embed=4)
    vocab = Vocabulary("abc")
    a = sample_text(model, vocab, "ab", 20, 0.8, np.random.default_rng(1))
    assert a == sample_text(model, vocab, "ab", 20, 0.8, np.random.default_rng(1))
    assert a.startswith("ab") and len(a) == 22 and set(a) <= set("abc")
    assert model.training and not model[1].stateful, "mode and statefulness are restored"


@needs("tinyshakespeare")
def test_train_and_sample_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, err = run(capsys, "train", "--dataset", "tinyshakespeare", "--limit", "64", "--epochs", "1",
                            "--out", str(out), "--no-progress")  # fmt: skip
    assert code == 0, err
    assert "validation loss" in stdout and "nats/char" in stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["val_nats_per_char"] == metrics["val_loss"] < np.log(65) + 0.5
    assert (out / "samples.md").read_text().count("```text") == 2  # before training, after epoch 1
    code, stdout, _ = run(capsys, "sample", str(out / "checkpoint.npz"), "--prompt", "ROMEO:", "--length", "40")
    assert code == 0 and stdout.startswith("ROMEO:") and len(stdout.rstrip("\n")) >= 46
    code, _, err = run(capsys, "sample", str(out / "checkpoint.npz"), "--prompt", "ROMEO~")
    assert code == 2 and "'~'" in err and "vocabulary" in err
