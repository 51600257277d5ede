#!/usr/bin/env python3
"""Golden values of the experiment assignment, from an implementation of
the documented algorithm written apart from the Go one (internal/experiment
assign.go): FNV-1a 64 over u32le(len(id)) id u32le(len(key)) key name, then
MurmurHash3's fmix64; u = ((h >> 12) + 0.5) / 2**52; each variant scores
weight / -ln(u) and the highest wins.

Run in this folder: python3 golden.py > golden.json
TestHashGoldenIsScriptOutput checks golden.json is this script's output;
TestHashGolden checks the Go code against golden.json.
"""
import hashlib
import json
import math
import struct

MASK = (1 << 64) - 1


def fnv(h, data):
    for b in data:
        h ^= b
        h = (h * 1099511628211) & MASK
    return h


def fmix64(h):
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & MASK
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & MASK
    h ^= h >> 33
    return h


def hash_name(exp_id, key, name):
    i, k = exp_id.encode(), key.encode()
    data = struct.pack("<I", len(i)) + i + struct.pack("<I", len(k)) + k + name.encode()
    return fmix64(fnv(14695981039346656037, data))


def assign(exp_id, variants, key):
    """The index of the variant serving key; variants are (name, weight)."""
    best, best_score = 0, 0.0
    for idx, (name, weight) in enumerate(variants):
        if weight == 0:
            continue
        u = ((hash_name(exp_id, key, name) >> 12) + 0.5) / 2**52
        score = weight / -math.log(u)
        if score > best_score:
            best, best_score = idx, score
    return best


# The experiment of the assignment checks: exp-1, three variants.
EXP = "exp-1"
VARIANTS = [("control", 50), ("treatment", 30), ("fast", 20)]
HASHES = [("exp-1", "user-42", "control"), ("exp-1", "user-42", "treatment"), ("", "", "")]
KEYS = ["user-1", "user-2", "user-3", "user-42", "alice", "bob",
        "7f3e2a10-0c1b-4e5f-9a8b-1c2d3e4f5a6b", "", "\u00e9", "42"]
SEQUENCE = 10_000  # keys user-0 .. user-9999, one byte (the index) each

golden = {
    "experiment": {"id": EXP, "variants": [{"name": n, "weight": w} for n, w in VARIANTS]},
    "hashes": [{"id": i, "key": k, "name": n, "hash": "%#018x" % hash_name(i, k, n)} for i, k, n in HASHES],
    "assigned": {k: VARIANTS[assign(EXP, VARIANTS, k)][0] for k in KEYS},
    "sequence": SEQUENCE,
    "sequenceSHA256": hashlib.sha256(bytes(assign(EXP, VARIANTS, "user-%d" % i) for i in range(SEQUENCE))).hexdigest(),
}
print(json.dumps(golden, indent=2, sort_keys=True, ensure_ascii=False))
