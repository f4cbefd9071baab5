#!/usr/bin/env python3
"""A toy supervised fine-tuning loop over a synthforge dataset in chat `messages` format.

    synthforge convert out.jsonl -o chat.jsonl --to messages   # if it is alpaca or sharegpt
    python3 train_tiny_lm.py chat.jsonl --steps 200

It is a TOY: a byte-level tokenizer and a two-layer causal transformer of ~150k parameters,
trained from scratch on CPU for a few steps. It shows the mechanics a real fine-tune has — a
chat template, loss on the assistant's tokens only, a fixed seed, a falling loss — and how a
synthforge output plugs into them. It will not produce a useful model: for that, load a
pretrained checkpoint and its tokenizer (for example with Hugging Face TRL's SFTTrainer, which
reads this same `messages` format) and see docs/training.md for how to mix synthetic and real data.

Needs only PyTorch (Debian: python3-torch). Prints one line per step: `step N loss X`.
"""
import argparse
import json
import math
import random
import sys

import torch
from torch import nn

# Byte-level vocabulary: 256 byte values, then the chat template's role markers, then padding.
ROLES = ["system", "user", "assistant"]
ROLE_TOKEN = {r: 256 + i for i, r in enumerate(ROLES)}
END_OF_TURN = 259
PAD = 260
VOCAB = 261
IGNORE = -100  # label of tokens the loss skips (everything that is not the assistant's answer)


def load_conversations(path):
    """The `messages` of each JSONL record; records without an assistant turn cannot teach anything."""
    conversations, skipped = [], 0
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            record = json.loads(line)
            messages = record.get("messages")
            if not isinstance(messages, list):
                sys.exit(f"{path}:{n}: no 'messages' list; convert the file first: "
                         f"synthforge convert {path} -o chat.jsonl --to messages")
            if not any(m.get("role") == "assistant" for m in messages):
                skipped += 1
                continue
            conversations.append(messages)
    if skipped:
        print(f"skipped {skipped} record(s) without an assistant turn", file=sys.stderr)
    if not conversations:
        sys.exit(f"{path}: no conversation with an assistant turn")
    return conversations


def encode(messages, context):
    """Token ids and labels: <role> content <eot> per turn; labels only on assistant content and its <eot>."""
    ids, labels = [], []
    for m in messages:
        body = list(str(m.get("content", "")).encode("utf-8")) + [END_OF_TURN]
        ids.append(ROLE_TOKEN.get(m.get("role"), ROLE_TOKEN["user"]))
        labels.append(IGNORE)
        ids += body
        labels += body if m.get("role") == "assistant" else [IGNORE] * len(body)
    # Predict token t+1 from tokens up to t.
    ids, labels = ids[:context + 1], labels[:context + 1]
    x, y = ids[:-1], labels[1:]
    pad = context - len(x)
    return x + [PAD] * pad, y + [IGNORE] * pad


class TinyCausalLM(nn.Module):
    def __init__(self, context, d_model, layers, heads):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, d_model)
        self.position = nn.Embedding(context, d_model)
        layer = nn.TransformerEncoderLayer(d_model, heads, dim_feedforward=4 * d_model, dropout=0.0,
                                           batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, layers)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, VOCAB)
        # Causal: position t attends to positions <= t only.
        self.register_buffer("mask", torch.triu(torch.full((context, context), float("-inf")), diagonal=1))

    def forward(self, x):
        t = x.shape[1]
        h = self.embed(x) + self.position(torch.arange(t, device=x.device))
        h = self.blocks(h, mask=self.mask[:t, :t])
        return self.head(self.norm(h))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", help="JSONL with a `messages` list per record (synthforge convert --to messages)")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--context", type=int, default=256, help="tokens (bytes) per example; longer ones are cut")
    ap.add_argument("--d-model", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--save", help="write the trained weights here (torch.save)")
    a = ap.parse_args()

    # A fixed seed and deterministic kernels: the same data and seed give the same losses.
    random.seed(a.seed)
    torch.manual_seed(a.seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)

    conversations = load_conversations(a.data)
    encoded = [encode(m, a.context) for m in conversations]
    xs = torch.tensor([e[0] for e in encoded])
    ys = torch.tensor([e[1] for e in encoded])
    trained_tokens = int((ys != IGNORE).sum())
    model = TinyCausalLM(a.context, a.d_model, a.layers, a.heads)
    params = sum(p.numel() for p in model.parameters())
    print(f"{len(conversations)} conversations, {trained_tokens} assistant tokens, {params} parameters",
          file=sys.stderr)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.01)
    loss_fn = nn.CrossEntropyLoss(ignore_index=IGNORE)
    order = random.Random(a.seed)
    model.train()
    for step in range(1, a.steps + 1):
        batch = [order.randrange(len(encoded)) for _ in range(a.batch_size)]
        logits = model(xs[batch])
        loss = loss_fn(logits.reshape(-1, VOCAB), ys[batch].reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        value = loss.item()
        if not math.isfinite(value):
            sys.exit(f"step {step}: loss is {value}")
        print(f"step {step} loss {value:.4f}", flush=True)
    if a.save:
        torch.save(model.state_dict(), a.save)


if __name__ == "__main__":
    main()
