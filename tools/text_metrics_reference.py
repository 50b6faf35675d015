#!/usr/bin/env python3
"""Reference values for tests/data/text_metrics_test.cpp, written independently of the C++ (src/data/text_metrics,
src/data/text_normalizer) from the published definitions, with nothing but the Python standard library (no
transformers, jiwer or sacrebleu needed, so it runs on the CPU machine):

  basic normaliser  the steps of transformers' Whisper BasicTextNormalizer (defaults): str.lower; delete
                    [<\\[][^>\\]]*[>\\]] then \\(([^)]+?)\\); NFKC; category M*/S*/P* -> " "; str.lower;
                    \\s+ -> " "; plus the strip gemma-tune adds.
  WER / CER         unit-cost Levenshtein over words (str.split()) or code points (after str.strip(), jiwer's
                    default CER transform); among minimal alignments the one with the most hits; an empty
                    reference rates as its insertions (jiwer 4).
  chrF              sacrebleu CHRF defaults: whitespace removed, character n-grams 1..6, hypothesis n-grams not
                    counted at an order the reference lacks, precision/recall averaged over orders where both sides
                    have n-grams (eps_smoothing=False), F-beta with beta=2, x100. Corpus: statistics summed first.

Run:  python3 tools/text_metrics_reference.py
It prints each case with repr() so escapes can be copied into C++ literals.
"""

import re
import unicodedata
from collections import Counter
from fractions import Fraction


def basic_normalize(s: str) -> str:
    s = s.lower()
    s = re.sub(r"[<\[][^>\]]*[>\]]", "", s)
    s = re.sub(r"\(([^)]+?)\)", "", s)
    s = unicodedata.normalize("NFKC", s)
    s = "".join(" " if unicodedata.category(ch)[0] in "MSP" else ch for ch in s)
    s = s.lower()
    return re.sub(r"\s+", " ", s).strip()


def edit_counts(ref: list, hyp: list):
    """(S, D, I, H, N): minimal edits, then most hits. Full table of (edits, -hits, S, D, I) tuples."""
    n, m = len(ref), len(hyp)
    table = [[None] * (m + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        for j in range(m + 1):
            if i == 0 and j == 0:
                table[i][j] = (0, 0, 0, 0, 0)
                continue
            options = []
            if i > 0 and j > 0:
                e, nh, s, d, ins = table[i - 1][j - 1]
                if ref[i - 1] == hyp[j - 1]:
                    options.append((e, nh - 1, s, d, ins))
                else:
                    options.append((e + 1, nh, s + 1, d, ins))
            if i > 0:
                e, nh, s, d, ins = table[i - 1][j]
                options.append((e + 1, nh, s, d + 1, ins))
            if j > 0:
                e, nh, s, d, ins = table[i][j - 1]
                options.append((e + 1, nh, s, d, ins + 1))
            table[i][j] = min(options, key=lambda t: (t[0], t[1]))
    e, nh, s, d, ins = table[n][m]
    return s, d, ins, -nh, n


def rate(counts) -> Fraction:
    s, d, i, h, n = counts
    return Fraction(s + d + i, n) if n else Fraction(s + d + i)


def words(text):
    return text.split()


def chars(text):
    return list(text.strip())


def chrf_stats(ref: str, hyp: str, order=6):
    ref = "".join(ref.split())
    hyp = "".join(hyp.split())
    stats = []
    for n in range(1, order + 1):
        r = Counter(ref[i:i + n] for i in range(len(ref) - n + 1))
        h = Counter(hyp[i:i + n] for i in range(len(hyp) - n + 1))
        matched = sum(min(c, r[g]) for g, c in h.items() if g in r)
        stats.append((sum(h.values()) if r else 0, sum(r.values()), matched))
    return stats


def chrf_from_stats(stats, beta=2):
    prec = rec = 0.0
    eff = 0
    for n_hyp, n_ref, n_match in stats:
        if n_hyp > 0 and n_ref > 0:
            prec += n_match / n_hyp
            rec += n_match / n_ref
            eff += 1
    if eff == 0:
        return 0.0
    prec /= eff
    rec /= eff
    if prec + rec == 0:
        return 0.0
    f = beta ** 2
    score = (1 + f) * prec * rec
    score /= f * prec + rec
    return 100 * score


def chrf_corpus(pairs):
    total = [[0, 0, 0] for _ in range(6)]
    for ref, hyp in pairs:
        for k, st in enumerate(chrf_stats(ref, hyp)):
            for j in range(3):
                total[k][j] += st[j]
    return total, chrf_from_stats(total)


NORMALIZER_CASES = [
    "Hello, World!",
    "[NOISE] hello <unk> world (laughs) again",
    "a [b> c",
    "()abc)",
    "a()b",
    "a (b c",
    "a [b c",
    "a [b) c] d",
    "a [[b]] c",
    "(a [b) c] d)",
    "\ufb01ne",
    "\uff21\uff22\uff23\uff11\uff12\uff13",
    "x\u00b2",
    "\u210cello",
    "it's $5.00 \u2014 100% \u00abok\u00bb",
    "Caf\u00e9 \u00d1and\u00fa",
    "e\u0301",
    "q\u0301",
    "\u4eca\u5929\u5929\u6c14\u5f88\u597d\u3002",
    "\u0130stanbul",
    "\u039f\u0394\u039f\u03a3 \u039f\u0394\u039f\u03a3.",
    "\u1e9e stra\u00dfe",
    "I \u2764\ufe0f you \U0001f44d\U0001f3fd",
    "a\u00a0b",
    "a\u2028b",
    "a\x1fb",
    "a\u0085b",
    "a\u200bb",
    "  hello \t\n world  ",
    "\ud55c\uad6d\uc5b4",
    "\u0928\u092e\u0938\u094d\u0924\u0947",
    "",
    "   ",
    "!!!",
]

BAD_UTF8 = [b"caf\xc3", b"a\xe2\x82b", b"\xc0\xaf", b"a\xffb", b"\xed\xa0\x80x", b"\xf4\x90\x80\x80"]

WER_CASES = [
    ("the cat sat on the mat", "the cat sit on the"),
    ("a b", "a x b y"),
    ("", ""),
    ("", "a b c"),
    ("a b", ""),
    ("a b", "b c"),
    ("a", "b"),
    ("a b c d e f g h i j", "a b c d e f g h i j"),
    ("\u4eca\u5929 \u5929\u6c14", "\u4eca\u5929 \u5929\u6c23"),
    ("  a   b  ", "a b"),
]

CER_CASES = [
    ("the cat sat on the mat", "the cat sit on the"),
    ("\u65e5\u672c\u8a9e", "\u65e5\u672c\u4eba"),
    ("e\u0301", "\u00e9"),
    ("ab  c", "ab c"),
    (" abc ", "abc"),
    ("", ""),
    ("", "abc"),
    ("abc", ""),
    ("kitten", "sitting"),
    ("\U0001f44d\U0001f3fd ok", "\U0001f44d ok"),
]

CHRF_CASES = [
    ("abc", "abd"),
    ("a b", "ab"),
    ("ab", "abab"),
    ("abcdef", "abcdef"),
    ("the cat sat on the mat", "the cat sit on the"),
    ("the cat sat on the mat", "the cat sat on the mat"),
    ("", ""),
    ("abc", ""),
    ("", "abc"),
    ("\u4eca\u5929\u5929\u6c14\u5f88\u597d", "\u4eca\u5929\u5929\u6c14\u4e0d\u9519"),
    ("Caf\u00e9 cr\u00e8me", "cafe creme"),
    ("xyz", "abc"),
]

CHRF_CORPORA = [
    [("ab", "abab"), ("abcdef", "abcdef")],
    [("the cat sat on the mat", "the cat sit on the"), ("abc", "abd"), ("", "abc")],
]


def main():
    print("# unicodedata", unicodedata.unidata_version)
    print("## basic normaliser")
    for s in NORMALIZER_CASES:
        print(f"{s!r} -> {basic_normalize(s)!r}")
    print("## bad UTF-8 (decode errors='replace'), then basic / none")
    for b in BAD_UTF8:
        t = b.decode("utf-8", errors="replace")
        print(f"{b!r} -> {t!r} basic={basic_normalize(t)!r} none={' '.join(t.split())!r}")
    print("## WER (S, D, I, H, N) rate")
    for r, h in WER_CASES:
        c = edit_counts(words(r), words(h))
        print(f"{r!r} | {h!r} -> {c} {rate(c)}")
    print("## CER (S, D, I, H, N) rate")
    for r, h in CER_CASES:
        c = edit_counts(chars(r), chars(h))
        print(f"{r!r} | {h!r} -> {c} {rate(c)}")
    print("## chrF sentence: stats [(hyp, ref, match) per order] score")
    for r, h in CHRF_CASES:
        st = chrf_stats(r, h)
        print(f"{r!r} | {h!r} -> {st} {chrf_from_stats(st)!r}")
    print("## chrF corpus: summed stats, corpus score, mean of sentence scores")
    for pairs in CHRF_CORPORA:
        total, score = chrf_corpus(pairs)
        mean = sum(chrf_from_stats(chrf_stats(r, h)) for r, h in pairs) / len(pairs)
        print(f"{pairs!r} -> {total} {score!r} mean={mean!r}")


if __name__ == "__main__":
    main()
