#!/usr/bin/env python3
"""random-tokens.py - a token file of random ids, for benchmarking.

Writes COUNT ids drawn uniformly from 0 .. VOCAB - 1 in llm.c's format,
which pipette's `tokens` data source reads (pipette.ini(5)): a header of
256 little-endian int32 (magic, version, count, then zeros), then the
ids, uint16 (magic 20240520, version 1) where VOCAB is at most 65536,
else uint32 (magic 20240801, version 7). The same arguments give the same
file. Random ids teach a model nothing: this measures speed, not learning.

    random-tokens.py [--vocab 50257] [--seed 0] OUTPUT COUNT

Python 3's standard library only.
"""
import argparse
import array
import random
import struct
import sys

CHUNK = 1 << 20  # ids drawn and written at a time


def positive(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main():
    parser = argparse.ArgumentParser(
        description="Write random token ids in llm.c's format.")
    parser.add_argument("output", help="the file to write")
    parser.add_argument("count", type=positive,
                        help="ids to write (below 2^31)")
    parser.add_argument("--vocab", type=positive, default=50257,
                        help="ids are below it (default 50257, GPT-2's)")
    parser.add_argument("--seed", type=int, default=0,
                        help="the random seed (default 0)")
    args = parser.parse_args()
    if args.count >= 1 << 31:
        parser.error("count must be below 2^31 (llm.c's header is int32)")
    if args.vocab > 1 << 31:
        parser.error("vocab must be at most 2^31 (pipette's ids are int32)")
    if args.vocab <= 1 << 16:
        magic, version, code = 20240520, 1, "H"
    else:
        magic, version, code = 20240801, 7, "I"
    rng = random.Random(args.seed)
    ids = range(args.vocab)
    try:
        with open(args.output, "wb") as f:
            f.write(struct.pack("<256i", magic, version, args.count,
                                *[0] * 253))
            left = args.count
            while left:
                chunk = array.array(code, rng.choices(ids, k=min(left, CHUNK)))
                if sys.byteorder == "big":
                    chunk.byteswap()
                chunk.tofile(f)
                left -= len(chunk)
    except OSError as e:
        sys.exit("random-tokens.py: %s" % e)


if __name__ == "__main__":
    main()
