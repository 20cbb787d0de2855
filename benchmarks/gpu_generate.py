"""GPU generation throughput: the transformers back end against plain `model.generate`, same model, same inputs.

A randomly initialised decoder of Qwen2-0.5B's shape (no weights are downloaded), bf16, batch 128,
512-token prompts, 128 new tokens, greedy. Each path gets a same-shape warm-up first (compilation,
cuDNN autotuning), then is timed. Needs a CUDA GPU; run it as one prepared script on a lent machine:

    python -m benchmarks.gpu_generate [--record]
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--prompt", type=int, default=512)
    ap.add_argument("--new", type=int, default=128)
    ap.add_argument("--record", action="store_true")
    args = ap.parse_args()
    import torch
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    from evalkit.backends.transformers_backend import TransformersBackend

    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: this benchmark runs only on a GPU")
    torch.manual_seed(0)
    cfg = Qwen2Config(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                      num_key_value_heads=2, max_position_embeddings=4096, tie_word_embeddings=True, eos_token_id=151643,
                      pad_token_id=151643)
    model = Qwen2ForCausalLM(cfg).to("cuda", torch.bfloat16).eval()
    # A word-level tokenizer over the same ids: the benchmark works on token ids, text never matters.
    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({f"t{k}": k for k in range(cfg.vocab_size)}, unk_token="t0")),
                                  pad_token="t151643", eos_token="t151643")
    g = torch.Generator().manual_seed(1)
    prompts = torch.randint(0, 150000, (args.batch, args.prompt), generator=g)
    lists = prompts.tolist()
    tokens = args.batch * args.new

    def plain() -> float:
        torch.cuda.synchronize()
        t = time.perf_counter()
        with torch.no_grad():
            model.generate(input_ids=prompts.cuda(), attention_mask=torch.ones_like(prompts).cuda(), max_new_tokens=args.new,
                           min_new_tokens=args.new, do_sample=False, pad_token_id=cfg.pad_token_id)
        torch.cuda.synchronize()
        return time.perf_counter() - t

    model.generation_config.min_new_tokens = args.new  # random weights may emit EOS early; count full lengths for all

    def timed(backend) -> float:
        torch.cuda.synchronize()
        t = time.perf_counter()
        backend.generate_token_ids(lists, args.new)
        torch.cuda.synchronize()
        return time.perf_counter() - t

    static = TransformersBackend.from_objects(model, tok, batch_size=args.batch, static_cache="on")
    dynamic = TransformersBackend.from_objects(model, tok, batch_size=args.batch, static_cache="off")
    t0 = time.perf_counter()
    plain(), timed(dynamic), timed(static)  # same-shape warm-ups (the static one compiles)
    warm = time.perf_counter() - t0
    t_plain = min(plain() for _ in range(2))
    t_dyn = min(timed(dynamic) for _ in range(2))
    t_ours = min(timed(static) for _ in range(2))
    result = {"card": torch.cuda.get_device_name(0), "torch": torch.__version__, "plain_tok_s": tokens / t_plain,
              "evalkit_dynamic_tok_s": tokens / t_dyn, "evalkit_tok_s": tokens / t_ours, "speedup": t_plain / t_ours,
              "warmup_s": warm}
    print(json.dumps(result, indent=2))
    row = (f"| transformers back end vs plain generate, Qwen2-0.5B shape, bf16, batch {args.batch}, {args.prompt}+{args.new} tokens, "
           f"{result['card']}, torch {result['torch']} | plain {result['plain_tok_s']:.0f} tok/s | evalkit {result['evalkit_tok_s']:.0f} tok/s "
           f"with the static cache ({result['evalkit_dynamic_tok_s']:.0f} without; warm-ups incl. compilation {warm:.0f} s) | "
           f"{result['speedup']:.2f}× (target ≥ 3×) |")
    print(row)
    if args.record:
        from benchmarks.record import record

        record("gpu_generate", row)


if __name__ == "__main__":
    main()
