"""The protein data a device session trains on, packed to travel with the working tree and unpacked there.

A device call carries the tracked tree (about 44.5 MB, most of it the shipped models), the wheels the image lacks
and whatever else fits under 64 MiB: a random part of the training split as xz-compressed JSON lines, in
independent xz streams of ``CHUNK`` proteins so that packing stops at a byte budget; a part of the validation
split for the trainer's held-out figure (never trained on); and the GO graph cut to the edges that
``GoGraph`` propagates along (``is_a`` and ``part_of``, both written as ``is_a``), with the names of the shipped
vocabulary's terms. Unpacking writes a
``save_to_disk`` dataset with ``train`` and ``validation`` splits, which every trainer takes as ``--data``,
and a GO folder to point ``$DLM_GO_DIR`` at.

    python -m bench.device.payload pack data/protein .payload --budget-mb 12      # here
    python -m bench.device.payload unpack .payload /tmp/device-data              # on the device
"""

from __future__ import annotations

import argparse
import json
import lzma
import random
from pathlib import Path

CHUNK = 4096
FIELDS = ("accession", "sequence", "go", "length")
TRAIN_FILE, VALID_FILE, GRAPH_FILE, NAMES_FILE, MANIFEST = (
    "train.jsonl.xz", "validation.jsonl.xz", "goGraph.txt.xz", "nameMapping.txt.xz", "manifest.json",
)


def _stream(rows: list[dict]) -> bytes:
    text = "".join(json.dumps({k: row[k] for k in FIELDS}) + "\n" for row in rows)
    return lzma.compress(text.encode(), preset=9 | lzma.PRESET_EXTREME)


def pack(data: Path, out: Path, budget_bytes: int, valid_count: int = 500, seed: int = 0,
         go_dir: Path | None = None, vocabulary: Path | None = None) -> dict:
    """Write the payload into ``out``: as many whole chunks of shuffled training proteins as fit in
    ``budget_bytes`` together with the rest of the payload. Returns the manifest."""
    import datasets

    from apps.protein.go import GO_DIR, VOCABULARY_FILE, GoGraph

    go_dir = Path(go_dir or GO_DIR)
    vocabulary = Path(vocabulary or Path(__file__).resolve().parents[2] / "apps/protein/models/go" / VOCABULARY_FILE)
    out.mkdir(parents=True, exist_ok=True)
    corpus = datasets.load_from_disk(str(data))

    # the edges GoGraph propagates along, as it reads them, each written back as is_a (it treats both alike)
    kept = [f"{parent}\t{child}\t1\tis_a\n" for child, parents in sorted(GoGraph.load(go_dir).parents.items())
            for parent in sorted(parents)]  # fmt: skip
    graph = lzma.compress("".join(kept).encode(), preset=9 | lzma.PRESET_EXTREME)
    terms = json.loads(vocabulary.read_text())["terms"]
    names = lzma.compress("".join(f"{t['id']}\t{t['name']}\n" for t in terms).encode(), preset=9)

    rng = random.Random(seed)
    valid_split = corpus["validation"]
    valid_rows = [valid_split[i] for i in sorted(rng.sample(range(len(valid_split)), min(valid_count, len(valid_split))))]
    valid = _stream(valid_rows)

    used = len(graph) + len(names) + len(valid)
    if used >= budget_bytes:
        raise ValueError(f"the budget ({budget_bytes} bytes) does not hold even the graph and validation part ({used})")
    train_split = corpus["train"]
    order = list(range(len(train_split)))
    rng.shuffle(order)
    count = 0
    with open(out / TRAIN_FILE, "wb") as handle:
        for start in range(0, len(order), CHUNK):
            block = _stream(train_split.select(order[start:start + CHUNK]).to_list())
            if used + len(block) > budget_bytes:
                break
            handle.write(block)
            used += len(block)
            count += min(CHUNK, len(order) - start)
    (out / VALID_FILE).write_bytes(valid)
    (out / GRAPH_FILE).write_bytes(graph)
    (out / NAMES_FILE).write_bytes(names)
    manifest = {
        "source": str(data), "seed": seed, "train_proteins": count, "train_of": len(train_split),
        "validation_proteins": len(valid_rows), "bytes": used, "graph_edges": len(kept), "names": len(terms),
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def unpack(payload: Path, dest: Path) -> dict:
    """``dest/protein`` (a ``save_to_disk`` dataset: train, validation) and ``dest/go`` (goGraph.txt and
    nameMapping.txt for ``$DLM_GO_DIR``) from a packed payload. Returns the manifest."""
    import datasets

    def read(name: str) -> datasets.Dataset:
        with lzma.open(payload / name, "rt", encoding="utf-8") as handle:
            rows = [json.loads(line) for line in handle if line.strip()]
        return datasets.Dataset.from_dict({k: [row[k] for row in rows] for k in FIELDS})

    manifest = json.loads((payload / MANIFEST).read_text())
    splits = datasets.DatasetDict(train=read(TRAIN_FILE), validation=read(VALID_FILE))
    if len(splits["train"]) != manifest["train_proteins"]:
        raise ValueError(f"{payload}: {len(splits['train'])} training proteins, the manifest says {manifest['train_proteins']}")
    splits.save_to_disk(str(dest / "protein"))
    (dest / "go").mkdir(parents=True, exist_ok=True)
    for packed, plain in ((GRAPH_FILE, "goGraph.txt"), (NAMES_FILE, "nameMapping.txt")):
        (dest / "go" / plain).write_bytes(lzma.decompress((payload / packed).read_bytes()))
    return manifest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.device.payload", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pack")
    p.add_argument("data", type=Path, help="a corpus from `dlm-protein corpus`")
    p.add_argument("out", type=Path)
    p.add_argument("--budget-mb", type=float, default=12.0, help="the payload's size, in MB (10^6 bytes)")
    p.add_argument("--validation", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    u = sub.add_parser("unpack")
    u.add_argument("payload", type=Path)
    u.add_argument("dest", type=Path)
    args = parser.parse_args(argv)
    if args.command == "pack":
        manifest = pack(args.data, args.out, int(args.budget_mb * 1e6), args.validation, args.seed)
    else:
        manifest = unpack(args.payload, args.dest)
    print(json.dumps(manifest))


if __name__ == "__main__":
    main()
