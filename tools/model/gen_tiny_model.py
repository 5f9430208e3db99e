#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Generate a tiny, random-weight Llama model directory that SGLang can serve.

Nothing is downloaded: the tokenizer is a byte-level BPE trained here on a
seeded synthetic corpus, the weights are LlamaForCausalLM's own random init
under a fixed torch seed.  The same arguments give the same bytes every run
(checked with --verify).

Usage: .venv/bin/python tools/model/gen_tiny_model.py [-o models/tiny-llama] [--verify]

Defaults: byte-level BPE of 4096 tokens (specials <s> </s> <unk> <pad> and
<|system|> <|user|> <|assistant|> <|end|>, chat template in
tokenizer_config.json/chat_template.jinja), LlamaForCausalLM with hidden 256,
intermediate 512, 2 layers, 4 heads / 2 KV heads, bfloat16, ~6.8 MB.
servetrace-model.json records the parameters and library versions; a run
whose recipe matches it does nothing (-f regenerates).
"""

import argparse
import hashlib
import json
import os
import random
import shutil
import sys
import tempfile

# Common English words, so that prompts made of ordinary text tokenize into
# real multi-byte tokens rather than single bytes.
COMMON_WORDS = """
the of and to a in is it you that he was for on are with as I his they be at
one have this from or had by hot word but what some we can out other were all
there when up use your how said an each she which do their time if will way
about many then them write would like so these her long make thing see him two
has look more day could go come did number sound no most people my over know
water than call first who may down side been now find any new work part take
get place made live where after back little only round man year came show
every good me give our under name very through just form sentence great think
say help low line differ turn cause much mean before move right boy old too
same tell does set three want air well also play small end put home read hand
port large spell add even land here must big high such follow act why ask men
change went light kind off need house picture try us again animal point mother
world near build self earth father head stand own page should country found
answer school grow study still learn plant cover food sun four between state
keep eye never last let thought city tree cross farm hard start might story saw
far sea draw left late run while press close night real life few north open
seem together next white children begin got walk example ease paper group
always music those both mark often letter until mile river car feet care second
book carry took science eat room friend began idea fish mountain stop once base
hear horse cut sure watch color face wood main enough plain girl usual young
ready above ever red list though feel talk bird soon body dog family direct
pose leave song measure door product black short numeral class wind question
happen complete ship area half rock order fire south problem piece told knew
pass since top whole king space heard best hour better true during hundred five
remember step early hold west ground interest reach fast verb sing listen six
table travel less morning ten simple several vowel toward war lay against
pattern slow center love person money serve appear road map rain rule govern
pull cold notice voice unit power town fine certain fly fall lead cry dark
machine note wait plan figure star box noun field rest correct able pound done
beauty drive stood contain front teach week final gave green oh quick develop
ocean warm free minute strong special mind behind clear tail produce fact
street inch multiply nothing course stay wheel full force blue object decide
surface deep moon island foot system busy test record boat common gold possible
plane stead dry wonder laugh thousand ago ran check game shape equate miss
brought heat snow tire bring yes distant fill east paint language among
request server router token model latency queue batch prefill decode stream
""".split()

SYLLABLES = ("ba be bi bo bu ka ke ki ko ku la le li lo lu ma me mi mo mu na ne "
             "ni no nu ra re ri ro ru sa se si so su ta te ti to tu va ve vi vo "
             "za zo an en in on un ar er or ul st tr pl gr sh ch th").split()

SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>",
                  "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]

CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\n' + message['content'] + '<|end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)


def log(msg):
    print(f"gen_tiny_model: {msg}", flush=True)


def make_corpus(seed, n_lines):
    rng = random.Random(seed)
    made_up = sorted({"".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 4)))
                      for _ in range(3000)})
    lines = []
    for _ in range(n_lines):
        words = []
        for _ in range(rng.randint(4, 24)):
            pool = COMMON_WORDS if rng.random() < 0.7 else made_up
            w = rng.choice(pool)
            if rng.random() < 0.1:
                w = w.capitalize()
            words.append(w)
        line = " ".join(words)
        line += rng.choice([".", ",", "?", "!", ":", " 0", " 42", " 2025", ""])
        lines.append(line)
    return lines


def build_tokenizer(args, out_dir):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=args.vocab_size,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(make_corpus(args.seed, args.corpus_lines), trainer=trainer)

    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
        additional_special_tokens=SPECIAL_TOKENS[4:],
        model_max_length=args.max_pos,
        clean_up_tokenization_spaces=False,
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out_dir)
    return fast


def build_model(args, tokenizer, out_dir):
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=args.hidden,
        intermediate_size=args.intermediate,
        num_hidden_layers=args.layers,
        num_attention_heads=args.heads,
        num_key_value_heads=args.kv_heads,
        max_position_embeddings=args.max_pos,
        rms_norm_eps=1e-5,
        rope_theta=10000.0,
        tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        torch_dtype=args.dtype,
    )
    torch.manual_seed(args.seed)
    model = LlamaForCausalLM(cfg).to(getattr(torch, args.dtype))
    model.generation_config = GenerationConfig(
        bos_token_id=cfg.bos_token_id, eos_token_id=cfg.eos_token_id,
        pad_token_id=cfg.pad_token_id)
    model.save_pretrained(out_dir, safe_serialization=True)
    return cfg


def dir_digest(path):
    h = hashlib.sha256()
    for name in sorted(os.listdir(path)):
        with open(os.path.join(path, name), "rb") as f:
            h.update(name.encode() + b"\0" + hashlib.sha256(f.read()).digest())
    return h.hexdigest()


def recipe(args):
    """What determines the bytes: parameters and the libraries that write them."""
    import safetensors
    import tokenizers
    import torch
    import transformers
    params = {k: v for k, v in sorted(vars(args).items())
              if k not in ("output", "verify", "force")}
    versions = {m.__name__: m.__version__
                for m in (safetensors, tokenizers, torch, transformers)}
    return {"generator": "tools/model/gen_tiny_model.py", "params": params,
            "versions": versions}


def generate(args, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    tokenizer = build_tokenizer(args, out_dir)
    build_model(args, tokenizer, out_dir)
    with open(os.path.join(out_dir, "servetrace-model.json"), "w") as f:
        json.dump(recipe(args), f, indent=2, sort_keys=True)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("-o", "--output", default=os.path.join(root, "models", "tiny-llama"),
                    help="model directory to write (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--vocab-size", type=int, default=4096,
                    help="BPE vocabulary size incl. special tokens (default: %(default)s)")
    ap.add_argument("--corpus-lines", type=int, default=20000)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--intermediate", type=int, default=512)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--max-pos", type=int, default=4096,
                    help="max_position_embeddings (default: %(default)s)")
    ap.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    ap.add_argument("-f", "--force", action="store_true",
                    help="regenerate even if the directory matches these parameters")
    ap.add_argument("--verify", action="store_true",
                    help="generate twice in temp dirs and fail unless the bytes match")
    args = ap.parse_args()

    if args.verify:
        digests = []
        for _ in range(2):
            with tempfile.TemporaryDirectory() as tmp:
                generate(args, tmp)
                digests.append(dir_digest(tmp))
        log(f"run 1 {digests[0]}\n                run 2 {digests[1]}")
        if digests[0] != digests[1]:
            log("NOT deterministic")
            return 1
        log("deterministic: OK")
        return 0

    out_dir = os.path.abspath(args.output)
    stamp = os.path.join(out_dir, "servetrace-model.json")
    if not args.force and os.path.exists(stamp) and os.path.exists(
            os.path.join(out_dir, "model.safetensors")):
        with open(stamp) as f:
            old = json.load(f)
        if old == recipe(args):
            log(f"{out_dir} already up to date (sha256 {dir_digest(out_dir)[:16]}); -f to redo")
            return 0
    # Write into a temp dir beside the target, then swap, so a crash never
    # leaves a half-written model that looks complete.
    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tiny-model-", dir=parent)
    try:
        generate(args, tmp)
        os.chmod(tmp, 0o755)
        for name in os.listdir(tmp):
            os.chmod(os.path.join(tmp, name), 0o644)
        if os.path.exists(out_dir):
            shutil.rmtree(out_dir)
        os.rename(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    size = sum(os.path.getsize(os.path.join(out_dir, n)) for n in os.listdir(out_dir))
    log(f"wrote {out_dir} ({size / 1e6:.1f} MB, sha256 {dir_digest(out_dir)[:16]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
