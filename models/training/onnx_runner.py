"""Runs an exported model with onnxruntime (Python): the reference the TypeScript engine is held to.

Checks the manifest's sha256 and the state shapes before every run, so a wrong file or a state of the
wrong shape fails with a message that names it instead of an onnxruntime stack trace.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort

from export import ExportError, sha256

DTYPES = {"float32": np.float32, "int64": np.int64}


class OnnxModel:
    def __init__(self, folder: str | Path, decoder: str | None = None, threads: int = 2, step: str | None = None):
        self.folder = Path(folder)
        path = self.folder / "manifest.json"
        if not path.is_file():
            raise ExportError(f"no manifest.json in {self.folder}")
        self.manifest = json.loads(path.read_text())
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        self.decoder = self._session(decoder or self.manifest["decoder"], opts)
        step = step or self.manifest.get("step")
        self.step_session = self._session(step, opts) if step and decoder is None else None
        self.encoder = self._session("encoder", opts) if "encoder" in self.manifest["graphs"] else None
        self.state_spec = self.manifest["state"]

    def _session(self, key: str, opts) -> ort.InferenceSession:
        entry = self.manifest["graphs"].get(key)
        if entry is None:
            raise ExportError(f"{self.folder}/manifest.json has no graph {key!r}")
        for name in [entry["file"]] + entry.get("external_data", []):
            path = self.folder / name
            if not path.is_file():
                raise ExportError(f"{path}: missing (the {key} graph needs it)")
            if sha256(path) != self.manifest["files"][name]["sha256"]:
                raise ExportError(f"{path}: sha256 does not match the manifest (corrupt or replaced file)")
        return ort.InferenceSession(str(self.folder / entry["file"]), opts, providers=["CPUExecutionProvider"])

    def init_state(self) -> list[np.ndarray]:
        return [np.zeros(s["shape"], dtype=DTYPES[s["dtype"]]) for s in self.state_spec]

    def check_state(self, state: list[np.ndarray]) -> None:
        if len(state) != len(self.state_spec):
            raise ValueError(f"state has {len(state)} tensors, {self.manifest['id']} expects {len(self.state_spec)}")
        for arr, spec in zip(state, self.state_spec):
            want = list(spec["shape"])
            if spec["grows_axis"] is not None and arr.ndim == len(want):
                want[spec["grows_axis"]] = arr.shape[spec["grows_axis"]]
            if list(arr.shape) != want or arr.dtype != DTYPES[spec["dtype"]]:
                raise ValueError(f"state {spec['name']}: got {arr.dtype}{list(arr.shape)}, expected {spec['dtype']}{want}")

    def encode(self, ids: list[int]) -> np.ndarray:
        return self.encoder.run(None, {"context_ids": np.asarray([ids], dtype=np.int64)})[0]

    def null_memory(self) -> np.ndarray:
        return self.encode([self.manifest["tokenizer"]["hole"]])

    def full(self, ids: list[int], state: list[np.ndarray], memory: np.ndarray | None):
        """Like step() but returns the logits of every position (T, V), from the decoder_full graph."""
        if not hasattr(self, "_full"):
            self._full = self._session("decoder_full", ort.SessionOptions())
        return self._run(self._full, ids, state, memory)

    def prefill(self, ids: list[int], state: list[np.ndarray], memory: np.ndarray | None):
        """Like step() for exactly limits.prefill_chunk tokens, through the fixed-length prefill graph."""
        if not hasattr(self, "_prefill"):
            if "prefill" not in self.manifest:
                raise ExportError(f"{self.folder}/manifest.json has no prefill graph")
            self._prefill = self._session(self.manifest["prefill"], ort.SessionOptions())
        want = self.manifest["limits"]["prefill_chunk"]
        if len(ids) != want:
            raise ValueError(f"prefill of {len(ids)} tokens; the graph takes exactly {want}")
        logits, state = self._run(self._prefill, ids, state, memory, want)
        return logits[0], state

    def step(self, ids: list[int], state: list[np.ndarray], memory: np.ndarray | None):
        """Feeds ids (one chunk, 1 <= len <= max_chunk) -> (last-position logits (V,), new state)."""
        session = self.step_session if len(ids) == 1 and self.step_session else self.decoder
        logits, state = self._run(session, ids, state, memory)
        return logits[0], state

    def _run(self, session, ids, state, memory, length: int | None = None):
        if length is None and not 1 <= len(ids) <= self.manifest["limits"]["max_chunk"]:
            raise ValueError(f"chunk of {len(ids)} tokens; the graph takes 1..{self.manifest['limits']['max_chunk']}")
        self.check_state(state)
        feed = {"input_ids": np.asarray([ids], dtype=np.int64)}
        if self.manifest.get("memory"):
            feed["memory"] = memory
        feed.update({s["input"]: a for s, a in zip(self.state_spec, state)})
        out = session.run(None, feed)
        return out[0], out[1:]
