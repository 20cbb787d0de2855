"""Schema-guided decoding: a causal LM writes JSON that is valid for a flat JSON schema by construction.

The keys, punctuation and quotes are forced; an ``enum`` / bounded ``integer`` / ``boolean`` value is
chosen by the model's own log-probability of each allowed value (argmax, or sampled at the request's
temperature); a ``string`` is generated with quotes and newlines banned until the model closes it
(or a token budget ends it). This is what lets a 135M model return well-formed verdicts.

lm-format-enforcer's transformers integration does not import under transformers 5, which is why
this small decoder exists; it supports only what our rubrics' schemas use and refuses the rest.
"""

from __future__ import annotations

import json
from typing import Any

from evalkit.errors import ConfigError


def schema_fields(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The (name, sub-schema) pairs in order; refuses schemas this decoder cannot honour."""
    if schema.get("type") != "object" or "properties" not in schema:
        raise ConfigError("constrained decoding needs an object schema with properties")
    fields = []
    for name, sub in schema["properties"].items():
        t = sub.get("type")
        if "enum" in sub or t in ("boolean", "string", "integer"):
            if t == "integer" and "enum" not in sub and ("minimum" not in sub or "maximum" not in sub):
                raise ConfigError(f"constrained decoding: integer field {name!r} needs minimum and maximum")
            fields.append((name, sub))
        else:
            raise ConfigError(f"constrained decoding: field {name!r} of type {t!r} is not supported")
    return fields


def _choices(sub: dict[str, Any]) -> list[Any] | None:
    if "enum" in sub:
        return list(sub["enum"])
    if sub.get("type") == "boolean":
        return [True, False]
    if sub.get("type") == "integer":
        return list(range(int(sub["minimum"]), int(sub["maximum"]) + 1))
    return None


class SchemaDecoder:
    """Decodes one JSON object for one prompt with a HF causal LM and its tokenizer."""

    def __init__(self, model, tokenizer, max_string_tokens: int = 48) -> None:
        import torch

        self.torch = torch
        self.model = model
        self.device = model.device  # inputs and masks live where the model does (CUDA included)
        self.tok = tokenizer
        self.max_string_tokens = max_string_tokens
        vocab = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
        decoded = [tokenizer.convert_tokens_to_string([t]) if t is not None else "" for t in vocab]
        # Inside a string: no quote, backslash or newline token, and no special token (one mask, built once).
        banned = [('"' in s or "\\" in s or "\n" in s) for s in decoded]
        for i in tokenizer.all_special_ids:
            if i is not None and 0 <= i < len(banned):
                banned[i] = True
        self.banned = torch.tensor(banned, device=self.device)
        self.quote_ids = [i for i, s in enumerate(decoded) if s.strip() == '"' or s == '"']
        import inspect

        self.forward_params = set(inspect.signature(model.forward).parameters)

    def _mask(self, vocab: int):
        """The banned mask for a logits row of ``vocab`` entries; ids past the tokenizer's (padded embedding
        rows) are no tokens at all, so they are banned too."""
        if vocab > self.banned.shape[0]:
            pad = self.torch.ones(vocab - self.banned.shape[0], dtype=self.torch.bool, device=self.device)
            self.banned = self.torch.cat([self.banned, pad])
        return self.banned[:vocab]

    def _ids(self, text: str) -> list[int]:
        return self.tok(text, add_special_tokens=False)["input_ids"]

    def _score(self, prefix: list[int], options: list[str]) -> list[float]:
        """Sum log-prob of each option's tokens after ``prefix`` (one padded forward pass)."""
        torch = self.torch
        seqs = [self._ids(o) for o in options]
        if all(len(s) == 1 for s in seqs):
            # One token each (scores 1–5, most enums): the prefix's last position scores them all, so one
            # forward pass of the prefix replaces a padded batch of len(options) copies of it.
            with torch.no_grad():
                logp = torch.log_softmax(self.model(input_ids=torch.tensor([prefix], device=self.device)).logits[0, -1].float(), dim=-1)
            return [float(logp[s[0]]) for s in seqs]
        n = max(len(s) for s in seqs)
        pad = self.tok.pad_token_id if self.tok.pad_token_id is not None else 0
        ids = torch.tensor([prefix + s + [pad] * (n - len(s)) for s in seqs], device=self.device)
        with torch.no_grad():
            logp = torch.log_softmax(self.model(input_ids=ids).logits.float(), dim=-1)
        scores = []
        for b, s in enumerate(seqs):
            scores.append(sum(float(logp[b, len(prefix) + k - 1, tok]) for k, tok in enumerate(s)))
        return scores

    def _string(self, prefix: list[int], temperature: float, gen: Any) -> tuple[str, int]:
        torch = self.torch
        ids = torch.tensor([prefix], device=self.device)
        out: list[int] = []
        past = None
        # transformers 5 renamed the KV-cache argument from past_key_values to cache.
        cache_arg = "cache" if "cache" in self.forward_params else "past_key_values"
        for _ in range(self.max_string_tokens):
            with torch.no_grad():
                res = self.model(input_ids=ids, use_cache=True, **({cache_arg: past} if past is not None else {}))
            past = getattr(res, "cache", None) or res.past_key_values
            logits = res.logits[0, -1].float()
            allowed_quote = float(logits[self.quote_ids].max()) if self.quote_ids else -1e9
            masked = logits.masked_fill(self._mask(logits.shape[0]), float("-inf"))
            if allowed_quote >= float(masked.max()):
                break  # the model wants to close the string
            if temperature > 0:
                probs = torch.softmax(masked / temperature, dim=-1).cpu()  # the seeded generator is a CPU one
                nxt = int(torch.multinomial(probs, 1, generator=gen))
            else:
                nxt = int(masked.argmax())
            out.append(nxt)
            ids = torch.tensor([[nxt]], device=self.device)
        return self.tok.decode(out, skip_special_tokens=True).strip(), len(out)

    def decode(self, prompt_ids: list[int], schema: dict[str, Any], temperature: float = 0.0, seed: int | None = None) -> tuple[str, int]:
        """The JSON text and the number of generated tokens; ``self.choice_logprobs`` then holds, per choice
        field (enum, bounded integer, boolean), the model's log-probability of each allowed value."""
        torch = self.torch
        gen = torch.Generator().manual_seed(seed or 0)
        values: dict[str, Any] = {}
        self.choice_logprobs: dict[str, dict[str, float]] = {}
        text = "{"
        n_generated = 0
        fields = schema_fields(schema)
        for k, (name, sub) in enumerate(fields):
            text += json.dumps(name) + ": "
            prefix = prompt_ids + self._ids(text)
            options = _choices(sub)
            if options is not None:
                scores = torch.tensor(self._score(prefix, [json.dumps(o) for o in options]))
                self.choice_logprobs[name] = {str(o): float(x) for o, x in zip(options, scores.tolist(), strict=True)}
                if temperature > 0:
                    pick = int(torch.multinomial(torch.softmax(scores / temperature, 0), 1, generator=gen))
                else:
                    pick = int(scores.argmax())
                values[name] = options[pick]
                n_generated += 1
            else:
                value, n = self._string(prefix + self._ids('"'), temperature, gen)
                values[name] = value
                n_generated += n
            text += json.dumps(values[name]) + (", " if k < len(fields) - 1 else "}")
        return text, n_generated


__all__ = ["SchemaDecoder", "schema_fields"]
