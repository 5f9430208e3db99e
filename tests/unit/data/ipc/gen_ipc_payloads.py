# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Regenerate the IPC payload fixtures of tests/unit/test_ipc_rid.c from
the REAL SGLang message classes, serialized the way SGLang's sock_send()
does it: pickle.dumps(obj, HIGHEST_PROTOCOL) by default, and
io_struct.msgpack_encode(obj) with SGLANG_USE_PICKLE_IPC=0.

    .venv/bin/python tests/unit/data/ipc/gen_ipc_payloads.py [outdir]

Deterministic (fixed rids, token ids, no time stamps). The C test knows
the expected rids; keep the two in sync.
"""
import array
import os
import pickle
import sys

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))


def load_io_struct(pickle_ipc):
    # SGLang reads SGLANG_USE_PICKLE_IPC when io_struct is imported.
    os.environ["SGLANG_USE_PICKLE_IPC"] = "1" if pickle_ipc else "0"
    for name in list(sys.modules):
        if name.startswith("sglang.srt.managers.io_struct"):
            del sys.modules[name]
    from sglang.srt.managers import io_struct
    return io_struct


def tokenized(io, rid, n_ids, stream):
    from sglang.srt.sampling.sampling_params import SamplingParams

    sp = SamplingParams(max_new_tokens=32, temperature=0.0)
    return io.TokenizedGenerateReqInput(
        rid=rid,
        input_text="the quick brown fox jumps over the lazy dog",
        input_ids=array.array("i", range(1, n_ids + 1)),
        input_embeds=None,
        mm_inputs=None,
        token_type_ids=None,
        sampling_params=sp,
        return_logprob=False,
        logprob_start_len=-1,
        top_logprobs_num=0,
        token_ids_logprob=None,
        stream=stream,
        session_params=io.SessionParams(id="session-1", rid="NOT-THE-RID"),
    )


def build(cls, **given):
    """cls(**given), adding an empty list for every other required field
    (which ones varies by SGLang version)."""
    import re

    for _ in range(100):
        try:
            return cls(**given)
        except TypeError as e:
            m = re.search(r"[Mm]issing required argument '(\w+)'", str(e))
            if not m:
                raise
            given[m.group(1)] = []
    raise RuntimeError(f"cannot build {cls.__name__}")


def token_id_output(io, rids, finished):
    n = len(rids)
    return build(
        io.BatchTokenIDOutput,
        rids=rids,
        http_worker_ipcs=[None] * n,
        finished_reasons=[{"type": "length", "length": 32} if f else None
                          for f in finished],
        decoded_texts=["" for _ in rids],
        decode_ids=[array.array("i", [5, 6, 7]) for _ in rids],
        read_offsets=[0] * n,
        output_ids=None,
        skip_special_tokens=[True] * n,
        spaces_between_special_tokens=[True] * n,
        no_stop_trim=[False] * n,
        prompt_tokens=[9] * n,
        reasoning_tokens=[0] * n,
        completion_tokens=[3] * n,
        cached_tokens=[0] * n,
    )


def str_output(io, rids, finished):
    n = len(rids)
    return build(
        io.BatchStrOutput,
        rids=rids,
        http_worker_ipcs=[None] * n,
        finished_reasons=[{"type": "stop", "matched": 2} if f else None
                          for f in finished],
        output_strs=["hello" for _ in rids],
        output_ids=None,
        prompt_tokens=[9] * n,
        completion_tokens=[3] * n,
        reasoning_tokens=[0] * n,
        cached_tokens=[0] * n,
    )


def messages(io):
    big_rids = [f"{i:032x}" for i in range(300)]
    return {
        "tok_stream": tokenized(io, "servetrace-rid-0001", 37, True),
        "tok_nostream": tokenized(io, "a3f1c2d4e5b60718293a4b5c6d7e8f90", 1500, False),
        "batch_tok": io.BatchTokenizedGenerateReqInput(batch=[
            tokenized(io, f"batch-rid-{i}", 5, False) for i in range(3)]),
        "out_one": token_id_output(io, ["servetrace-rid-0001"], [False]),
        "out_big": token_id_output(io, big_rids, [i % 7 == 0 for i in range(300)]),
        "out_fin": token_id_output(io, ["servetrace-rid-0001"], [True]),
        "str_two": str_output(io, ["r-one", "r-two"], [False, True]),
        "abort": io.AbortReq(rid="abort-me"),
    }


def main():
    os.makedirs(OUT, exist_ok=True)
    io = load_io_struct(True)
    import sglang

    for name, obj in messages(io).items():
        with open(os.path.join(OUT, f"{name}.pickle"), "wb") as f:
            f.write(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))
    io = load_io_struct(False)
    for name, obj in messages(io).items():
        with open(os.path.join(OUT, f"{name}.msgpack"), "wb") as f:
            f.write(io.msgpack_encode(obj))
    with open(os.path.join(OUT, "VERSION"), "w") as f:
        f.write(f"sglang {sglang.__version__}\n")


if __name__ == "__main__":
    main()
