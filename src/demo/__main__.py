"""Build the offline demo's assets: a tiny backbone and synthetic reviews and NER sentences.

python -m src.demo --out .demo     # .demo/tiny-bert, .demo/sentiment/{train,test}.parquet, .demo/ner/*.txt
python src/train.py experiment=demo
"""

from __future__ import annotations

import argparse
from pathlib import Path

from src.demo.backbones import build_tiny_backbone
from src.tasks.classification.synthetic import sentiment_rows, write_sentiment_data
from src.tasks.ner.synthetic import ner_rows, write_ner_data


def demo_corpus(seed: int = 0) -> list[str]:
    """The texts the demo tokenizer learns from: synthetic reviews and NER sentences."""
    return [r["text"] for r in sentiment_rows(400, seed)] + [" ".join(r["tokens"]) for r in ner_rows(400, seed)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=".demo", help="output directory")
    parser.add_argument("--backbone", default="bert", choices=["bert", "distilbert", "roberta"])
    args = parser.parse_args()
    out = Path(args.out)
    build_tiny_backbone(args.backbone, out / f"tiny-{args.backbone}", demo_corpus())
    write_sentiment_data(out / "sentiment")
    write_ner_data(out / "ner")
    print(f"Wrote {out}/tiny-{args.backbone}, {out}/sentiment and {out}/ner")


if __name__ == "__main__":
    main()
