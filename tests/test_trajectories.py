import json
import os

import numpy as np
import pytest
import torch

from hjepa.data.trajectories import Trajectories
from hjepa.envs.random_walk import RandomWalkPolicy, collect_random_walks, collection_meta
from hjepa.envs.two_rooms import TwoRooms
from hjepa.errors import InputError


def save_trajectories(path, arrays, meta=None, chunk_episodes=None, overwrite=False):
    """Arrays -> a dataset on disk, through the one store."""
    return Trajectories.from_arrays(arrays).save(path, meta=meta, chunk_episodes=chunk_episodes, overwrite=overwrite)


def load_trajectories(path):
    """A dataset on disk -> (numpy arrays, its meta.json)."""
    dataset = Trajectories.load(path)
    return {k: v.numpy() for k, v in dataset.to_arrays().items()}, json.loads((path / "meta.json").read_text())


@pytest.fixture(scope="module")
def walks():
    env = TwoRooms()
    policy = RandomWalkPolicy()
    arrays = collect_random_walks(env, policy, 25, 12, seed=0)
    return arrays, collection_meta(env, policy, seed=0)


def test_round_trip_and_chunking(tmp_path, walks):
    arrays, meta = walks
    path = save_trajectories(tmp_path / "ds", arrays, meta, chunk_episodes=10)
    assert sorted(p.name for p in path.iterdir()) == ["chunk_00000.npz", "chunk_00001.npz", "chunk_00002.npz", "meta.json"]
    loaded, loaded_meta = load_trajectories(path)
    for key, value in arrays.items():
        np.testing.assert_array_equal(loaded[key], value.numpy())
        assert loaded[key].dtype == value.numpy().dtype
    assert [c["episodes"] for c in loaded_meta["chunks"]] == [10, 10, 5]
    assert loaded_meta["episodes"] == 25 and loaded_meta["steps"] == 12
    assert loaded_meta["policy"] == json.loads(json.dumps(meta["policy"]))
    assert loaded_meta["env"]["config"]["size"] == 64 and loaded_meta["seed"] == 0
    with np.load(path / "chunk_00001.npz") as chunk:  # chunk 1 holds episodes 10..19
        np.testing.assert_array_equal(chunk["positions"], arrays["positions"][10:20].numpy())
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp dirs left


def test_corrupt_and_truncated_chunk(tmp_path, walks):
    arrays, meta = walks
    path = save_trajectories(tmp_path / "ds", arrays, meta, chunk_episodes=10)
    chunk = path / "chunk_00001.npz"
    good = chunk.read_bytes()
    chunk.write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match="chunk_00001.npz"):
        load_trajectories(path)
    chunk.write_bytes(b"not a zip file at all" * 10)
    with pytest.raises(ValueError, match="chunk_00001.npz"):
        load_trajectories(path)
    chunk.write_bytes(good)
    (path / "meta.json").write_text('{"format": "hjepa.traj')
    with pytest.raises(ValueError, match="meta.json"):
        load_trajectories(path)


def test_inconsistent_shapes(tmp_path, walks):
    arrays, meta = walks
    bad = dict(arrays, actions=arrays["actions"][:, :-1])
    with pytest.raises(ValueError, match=r"actions shape \(25, 11, 2\)"):
        save_trajectories(tmp_path / "a", bad, meta)
    bad = dict(arrays, door_y=arrays["door_y"][:-1])
    with pytest.raises(ValueError, match="door_y"):
        save_trajectories(tmp_path / "b", bad, meta)
    # a chunk whose arrays disagree, written behind the library's back
    path = save_trajectories(tmp_path / "c", arrays, meta, chunk_episodes=10)
    a = {k: v[10:20].numpy() for k, v in arrays.items()}
    a["actions"] = a["actions"][:, :5]
    np.savez(path / "chunk_00001.npz", **a)
    with pytest.raises(ValueError, match="actions"):
        load_trajectories(path)


def test_nan_rejected(tmp_path, walks):
    arrays, meta = walks
    bad = {k: v.clone() for k, v in arrays.items()}
    bad["positions"][3, 4, 0] = float("nan")
    with pytest.raises(ValueError, match="positions.*NaN"):
        save_trajectories(tmp_path / "a", bad, meta)
    assert not (tmp_path / "a").exists()
    path = save_trajectories(tmp_path / "b", arrays, meta, chunk_episodes=10)
    a = {k: v[:10].numpy().copy() for k, v in arrays.items()}
    a["actions"][2, 1, 1] = np.inf
    np.savez(path / "chunk_00000.npz", **a)
    with pytest.raises(ValueError, match="actions.*NaN or inf"):
        load_trajectories(path)


def test_refuses_overwrite_and_keeps_old_data(tmp_path, walks):
    arrays, meta = walks
    path = save_trajectories(tmp_path / "ds", arrays, meta, chunk_episodes=10)
    other = collect_random_walks(TwoRooms(), RandomWalkPolicy(), 7, 12, seed=1)
    with pytest.raises(FileExistsError):
        save_trajectories(path, other, meta)
    loaded, _ = load_trajectories(path)
    np.testing.assert_array_equal(loaded["positions"], arrays["positions"].numpy())
    # a failing overwrite (NaN) leaves the old dataset untouched
    bad = {k: v.clone() for k, v in other.items()}
    bad["actions"][0, 0, 0] = float("inf")
    with pytest.raises(ValueError):
        save_trajectories(path, bad, meta, overwrite=True)
    loaded, _ = load_trajectories(path)
    np.testing.assert_array_equal(loaded["positions"], arrays["positions"].numpy())
    # an explicit overwrite replaces it completely (no stale chunks)
    save_trajectories(path, other, meta, chunk_episodes=10, overwrite=True)
    loaded, loaded_meta = load_trajectories(path)
    np.testing.assert_array_equal(loaded["positions"], other["positions"].numpy())
    assert sorted(p.name for p in path.iterdir()) == ["chunk_00000.npz", "meta.json"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    # an existing empty directory is fine
    (tmp_path / "empty").mkdir()
    save_trajectories(tmp_path / "empty", arrays, meta)


def test_overwrite_moves_the_old_directory_aside(tmp_path, walks, monkeypatch):
    """--overwrite never deletes: a directory that is not a dataset (a run, anything) and an old
    dataset are both renamed to name.old-<timestamp> beside the new dataset, whole."""
    arrays, meta = walks
    target = tmp_path / "target"
    (target / "checkpoints").mkdir(parents=True)
    (target / "sentinel.txt").write_text("keep me")
    (target / "checkpoints" / "world_model.pt").write_bytes(b"weights")
    save_trajectories(target, arrays, meta, chunk_episodes=10, overwrite=True)
    assert len(Trajectories.load(target)) == arrays["actions"].shape[0]
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("target.old-")]
    assert len(aside) == 1 and (aside[0] / "sentinel.txt").read_text() == "keep me"
    assert (aside[0] / "checkpoints" / "world_model.pt").read_bytes() == b"weights"
    other = collect_random_walks(TwoRooms(), RandomWalkPolicy(), 7, 12, seed=1)
    save_trajectories(target, other, meta, overwrite=True)  # the old dataset goes aside too, loadable
    assert len(Trajectories.load(target)) == 7
    datasets = [p for p in tmp_path.iterdir() if p.name.startswith("target.old-") and (p / "meta.json").exists()]
    assert [len(Trajectories.load(p)) for p in datasets] == [arrays["actions"].shape[0]]
    # a failed rename of the new dataset into place puts the old one back
    real_rename = os.rename
    def failing_rename(src, dst):
        if ".tmp-" in str(src):
            raise OSError("disk full")
        real_rename(src, dst)
    monkeypatch.setattr(os, "rename", failing_rename)
    with pytest.raises(OSError, match="disk full"):
        save_trajectories(target, arrays, meta, overwrite=True)
    monkeypatch.undo()
    assert len(Trajectories.load(target)) == 7
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_refuses_to_replace_the_working_directory(tmp_path, walks, monkeypatch):
    arrays, meta = walks
    work = tmp_path / "a" / "work"
    work.mkdir(parents=True)
    (work / "notes.txt").write_text("mine")
    monkeypatch.chdir(work)
    for out in (".", "..", "", str(tmp_path)):
        with pytest.raises(InputError, match="working directory"):
            save_trajectories(out, arrays, meta, overwrite=True)
    assert (work / "notes.txt").read_text() == "mine" and sorted(p.name for p in tmp_path.iterdir()) == ["a"]


def test_missing_paths(tmp_path, walks):
    with pytest.raises(FileNotFoundError, match="nope"):
        load_trajectories(tmp_path / "nope")
    (tmp_path / "no_meta").mkdir()
    with pytest.raises(FileNotFoundError, match="meta.json"):
        load_trajectories(tmp_path / "no_meta")
    arrays, meta = walks
    path = save_trajectories(tmp_path / "ds", arrays, meta, chunk_episodes=10)
    (path / "chunk_00002.npz").unlink()
    with pytest.raises(FileNotFoundError, match="chunk_00002.npz"):
        load_trajectories(path)


def test_dataset_split(tmp_path, walks):
    arrays, meta = walks
    ds = Trajectories.load(save_trajectories(tmp_path / "ds", arrays, meta))
    assert len(ds) == 25 and ds.steps == 12 and ds.layout().wall_x.dtype == torch.long
    train, held = ds.split(0.2, torch.Generator().manual_seed(0))
    assert len(train) == 20 and len(held) == 5
    # disjoint and complete: every episode appears exactly once
    starts = torch.cat([train.positions[:, 0], held.positions[:, 0]])
    assert torch.equal(starts[starts[:, 0].argsort()], ds.positions[:, 0][ds.positions[:, 0, 0].argsort()])
    again, _ = ds.split(0.2, torch.Generator().manual_seed(0))
    assert torch.equal(again.positions, train.positions)
    with pytest.raises(ValueError):
        ds.split(1.0)


def test_one_store_for_every_kind_of_episode(tmp_path, walks):
    """Pixel episodes (frames and states, stored compressed) and version 1 datasets of both old
    formats load into the same Trajectories."""
    rng = np.random.default_rng(0)
    pixels = {"frames": rng.integers(0, 255, (3, 5, 3, 8, 8), dtype=np.uint8), "actions": rng.normal(size=(3, 4, 2)),
              "states": rng.normal(size=(3, 5, 6)), "seeds": np.arange(3)}
    path = Trajectories.from_arrays(pixels, {"env": {"name": "toy"}}).save(tmp_path / "px")
    loaded = Trajectories.load(path)
    assert loaded.positions is None and loaded.frames.dtype == torch.uint8 and loaded.states.dtype == torch.float64
    np.testing.assert_array_equal(loaded.frames.numpy(), pixels["frames"])
    assert loaded.meta == {"env": {"name": "toy"}} and loaded.episode_arrays["seeds"].tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="no layout"):
        loaded.layout()
    # A version 1 pixel dataset (another format name) reads the same.
    old = json.loads((path / "meta.json").read_text())
    (path / "meta.json").write_text(json.dumps({**old, "format": "hjepa.pixel_trajectories", "version": 1}))
    np.testing.assert_array_equal(Trajectories.load(path).states.numpy(), loaded.states.numpy())
    (path / "meta.json").write_text(json.dumps({**old, "version": 7}))
    with pytest.raises(ValueError, match="unsupported version 7"):
        Trajectories.load(path)
    with pytest.raises(ValueError, match="needs positions, states or frames"):
        Trajectories.from_arrays({"actions": pixels["actions"]})
