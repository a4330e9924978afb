"""Model configuration: one dataclass, loaded from JSON with unknown keys and wrong types refused."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

# The longest chunk the exported gated-delta graph accepts: its Neumann product's terms stay within
# fp32's reach (C(15, 7) = 6435) for 16 tokens (see attention_linear.unit_lower_inverse).
DELTA_GRAPH_CHUNK = 16
# The fixed length of gated delta's prefill graph: DELTA_GRAPH_CHUNK-token sub-blocks chained by their
# exact state maps (attention_linear.delta_blocks), so no long inverse. 256 reads a token in 5% less time
# on onnxruntime-web (WASM), but the engine's reads stop at its 256-token checkpoints: the part of a
# re-read after the last one (up to 255 tokens after an edit) would all go through the 16-token graph.
DELTA_PREFILL_CHUNK = 128
VARIANTS = ("linear", "decay", "deltanet", "hybrid", "softmax", "luna", "sparse")
# Variants whose decoder state has a fixed size whatever the context length.
CONSTANT_STATE = ("linear", "decay", "deltanet", "hybrid", "luna")


@dataclass
class ModelConfig:
    variant: str = "linear"  # decoder attention: one of VARIANTS
    vocab_size: int = 8192  # BPE vocabulary plus the special tokens (eos, hole, pad) at the end
    n_layer: int = 4  # recurrent (decoder) blocks
    n_head: int = 4  # attention heads per block
    d_model: int = 192  # residual width
    ffn_mult: int = 4  # FFN hidden width = ffn_mult * d_model
    dropout: float = 0.0  # dropout on attention and FFN outputs (training only)
    chunk_size: int = 64  # C: training chunk for the chunked linear forms (state carried between chunks)
    max_chunk: int = 256  # the largest T the exported decoder accepts in one run (deltanet's inverse is sized for it)
    rope_base: float = 10000.0  # RoPE frequency base (softmax, sparse, hybrid window, encoder)
    # linear family
    eps: float = 1e-6  # added to the linear-attention denominator phi(Q)Z
    conv_size: int = 4  # short causal depthwise convolution width (decay, deltanet); 0 disables it
    # luna
    luna_slots: int = 16  # l: packed slots per decoder layer
    # sparse (decoder, causal "fixed" pattern of Child et al. 2019)
    sparse_block: int = 64  # b: local block length
    sparse_summary: int = 8  # c: last c positions of every earlier block are visible to all later queries
    # hybrid
    window: int = 64  # w: sliding-window softmax span, kept as a fixed-size ring of keys/values
    # whole-file encoder and late fusion
    enc_layers: int = 2  # bidirectional sparse encoder blocks; 0 builds a decoder without encoder or fusion
    enc_block: int = 64  # encoder local block length
    enc_summary: int = 8  # encoder summary columns per block
    mem_slots: int = 16  # l: memory slots the Luna pack produces
    pack_residual: bool = True  # memory = LN(P + packed); the CPU-scale models learned a near-constant memory
    # this way (P dominates; see models/README.md), so a new run should try False: memory = LN(packed)
    # S: the encoder's states of the S tokens right after <hole>, at full resolution, follow the packed
    # slots in the memory. Packing averaged a file into near-constant slots (uniform attention, 1e-5 of
    # the decoder's gradient reached the encoder); the code right after the cursor is what a middle
    # span most needs, and these slots give it to the fusion without averaging. 0: packed slots only.
    suffix_slots: int = 0
    # C: a copy path beside the fusion. The encoder turns the C tokens right after <hole> into a vocabulary-
    # sized bonus table (each token's largest weight w_j = sigmoid(key . e_j + pos_j) over its occurrences,
    # e_j the encoder's state there) that travels in the memory, and the head adds softplus(gate . h) times
    # it to the logits. Measured on the shipped model before any training, a constant +1.5 on the distinct
    # ids of the first 256 suffix tokens took middle-span bits/byte 5% lower (validation and test split):
    # what follows the cursor is reused in the middle, and cross-attention over averaged slots never
    # learned to point at it. 0: no copy path.
    copy_slots: int = 0
    n_fusion: int = 1  # fusion blocks (cross-attention to memory + FFN) after the decoder blocks
    max_encoder_tokens: int = 2048  # the most file-context tokens the engine gives the encoder

    def __post_init__(self) -> None:
        problems = []
        if self.variant not in VARIANTS:
            problems.append(f"variant {self.variant!r} is not one of {', '.join(VARIANTS)}")
        if self.d_model % self.n_head:
            problems.append(f"d_model {self.d_model} is not divisible by n_head {self.n_head}")
        if self.variant == "hybrid" and self.n_head % 2:
            problems.append("hybrid splits heads half window-softmax, half linear: n_head must be even")
        if self.sparse_summary > self.sparse_block or self.enc_summary > self.enc_block:
            problems.append("summary columns per block cannot exceed the block length")
        if self.suffix_slots < 0:
            problems.append(f"suffix_slots must be >= 0, got {self.suffix_slots}")
        if self.copy_slots < 0 or (self.copy_slots and self.enc_layers <= 0):
            problems.append(f"copy_slots must be >= 0 and needs an encoder (enc_layers > 0), got {self.copy_slots}")
        for name in ("n_layer", "n_head", "d_model", "vocab_size", "chunk_size", "max_chunk", "window"):
            if getattr(self, name) <= 0:
                problems.append(f"{name} must be positive, got {getattr(self, name)}")
        if problems:
            raise ValueError("invalid model config: " + "; ".join(problems))

    @property
    def graph_chunk(self) -> int:
        """The most tokens one run of the exported decoder takes (gated delta: see DELTA_GRAPH_CHUNK)."""
        return min(self.max_chunk, DELTA_GRAPH_CHUNK) if self.variant == "deltanet" else self.max_chunk

    @property
    def prefill_chunk(self) -> int | None:
        """Tokens per run of the fixed-length prefill graph, for a variant whose chunk graph is capped below
        max_chunk (gated delta); None when the chunk graph already takes max_chunk."""
        if self.graph_chunk >= self.max_chunk:
            return None
        n = min(self.max_chunk, DELTA_PREFILL_CHUNK) // self.graph_chunk * self.graph_chunk
        return n if n > self.graph_chunk else None

    @property
    def fusion_slots(self) -> int:
        """Rows of the memory the fusion attends to: packed slots, then suffix slots."""
        return self.mem_slots + self.suffix_slots

    @property
    def copy_rows(self) -> int:
        """Memory rows of the copy path's bonus table: vocab_size values laid out d_model to a row."""
        return -(-self.vocab_size // self.d_model) if self.copy_slots else 0

    @property
    def memory_slots(self) -> int:
        """Rows of the memory the encoder returns: the fusion's slots, then the copy path's bonus table."""
        return self.fusion_slots + self.copy_rows

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    @property
    def has_encoder(self) -> bool:
        return self.enc_layers > 0


def from_dict(cls, data: dict, source: str = "config"):
    """Builds a dataclass from a dict, refusing unknown keys and values of the wrong type."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"{source}: unknown key(s) {', '.join(unknown)}; known: {', '.join(fields)}")
    kwargs = {}
    for key, value in data.items():
        want = type(getattr(cls(), key)) if fields[key].default is not dataclasses.MISSING else None
        if want is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if want is not None and not isinstance(value, want):
            raise ValueError(f"{source}: {key} should be {want.__name__}, got {type(value).__name__} {value!r}")
        kwargs[key] = value
    return cls(**kwargs)


def load_json(cls, path: str | Path):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return from_dict(cls, data, str(path))
