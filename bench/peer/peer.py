#!/usr/bin/python3
"""peer.py - the numpy pipeline a data team would write instead of `mmaudit audit`.

Benchmark peer and accuracy cross-check only (issue 6): run it with Debian's /usr/bin/python3
(python3-numpy, python3-pil); no scipy/scikit-learn (CSR is plain numpy arrays).

    /usr/bin/python3 bench/peer/peer.py [--out DIR] [--folds 5] [--epochs 8] [--seed 1] DATA.jsonl

Does what `mmaudit audit` does for one pairwise dataset, on the same features and models:
  1. reads the JSONL (prompt|question, image|img_path|image_path, chosen, rejected, id);
  2. decodes each distinct image (by SHA-256 of its bytes) once with PIL and computes the
     features of engine/features/imgfeat.c (32x32 thumbnail averaging ~4-7 sampled rows per band, 4x4 RGB
     grid, 4x4x4 colour histogram, 8-bin gradient-orientation histogram, brightness mean/std/edge);
  3. text features of engine/features/textfeat.c: lower-cased word unigrams + bigrams, 64-bit FNV-1a, 2^18
     signed buckets, sign(s) log1p|s| per bucket scaled to unit L2 norm per answer, plus the 19
     named style features; pair row d = phi(chosen) - phi(rejected) as CSR numpy arrays;
  4. K-fold cross-fitting split by image (by prompt hash without image), the same fold assignment
     as engine/eval/score.c; per fold the three Bradley-Terry models of engine/models/model.c (text-only;
     MM-RM m = w.d + fold(d)^T W v; shortcut-aware with detached w = eps/2 + L_t/(eps + L_t + L),
     total = mean(w L) + mean(L_t)); minibatch Adam (lazy on text columns, dense on W), L2,
     epochs 8, batch 256, lr 0.05, l2 1e-3, B = 256; plus the full-data proxy for top features;
  5. held-out p_text, p_mm, p_sa -> accuracies, categories; writes DIR/scores.csv and
     DIR/summary.json and prints the summary.
Known differences from mmaudit (documented, not bugs): PIL/libjpeg decodes JPEG with a different
IDCT/upsampling than stb_image (pixel values differ by a few levels; PNG is identical); the
minibatch order comes from numpy's PCG64, not xoshiro256**, so held-out margins differ slightly
(accuracies agree within noise); data: URIs and multi-completion records are not read; no HTML
report and no weights file.
Vectorized per minibatch and per chunk of pairs; the per-answer tokenizer and named features are
Python (as in any hashing-vectorizer pipeline). Single process.
"""
import argparse
import hashlib
import json
import math
import os
import re
import sys
import time

import numpy as np
from PIL import Image

HASH_BITS = 18
NB = 1 << HASH_BITS
NNAMED = 19
D = NB + NNAMED
FNV_OFF = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
M64 = (1 << 64) - 1

# ---- hashing -------------------------------------------------------------------------------------


def fnv1a64_many(strs):
    """64-bit FNV-1a of each bytes object in strs -> uint64 array; vectorized per length."""
    out = np.empty(len(strs), dtype=np.uint64)
    if not strs:
        return out
    lens = np.fromiter((len(s) for s in strs), dtype=np.int64, count=len(strs))
    prime = np.uint64(FNV_PRIME)
    for L in np.unique(lens):
        idx = np.nonzero(lens == L)[0]
        h = np.full(len(idx), FNV_OFF, dtype=np.uint64)
        if L:
            mat = np.frombuffer(b"".join(strs[i] for i in idx), dtype=np.uint8).reshape(len(idx), L)
            with np.errstate(over="ignore"):
                for j in range(L):
                    h = (h ^ mat[:, j].astype(np.uint64)) * prime
        out[idx] = h
    return out


def mix64(x):
    """splitmix64 finalizer of engine/eval/score.c on a uint64 array."""
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


# ---- text features -------------------------------------------------------------------------------

TOKEN_RE = re.compile(rb"[A-Za-z0-9\x80-\xff]+(?:'[A-Za-z0-9\x80-\xff]+)*")
HEDGES = {w.encode() for w in "might perhaps possibly maybe probably likely seems seemingly arguably "
          "somewhat uncertain unclear presumably apparently".split()}
APOLOGY = {w.encode() for w in "sorry apologize apologise apologies unfortunately regret".split()}
REFUSAL = {b"cannot", b"can't", b"can\xe2\x80\x99t", b"unable", b"won't", b"refuse", b"decline"}
FIRST = {w.encode() for w in "i me my mine myself i'm i've i'd i'll we us our".split()} | {b"i\xe2\x80\x99m"}
CONFIDENT = {w.encode() for w in "certainly definitely clearly absolutely undoubtedly surely obviously "
             "indeed exactly precisely".split()}
DIGIT_RE = re.compile(rb"[0-9]")
UPPER_RE = re.compile(rb"[A-Z]")
LOWER_RE = re.compile(rb"[a-z]")
BOLD_RE = re.compile(rb"\*\*|__")
CODE_RE = re.compile(rb"`+")
NUMBERED_RE = re.compile(rb"[0-9]+[.)]")


def logc(c, scale):
    return min(1.0, math.log1p(c) / scale)


def named_features(t, toks):
    """The 19 named style features of engine/features/textfeat.c for answer bytes t (tokens lower-cased)."""
    n = len(t)
    lines = bullets = numbered = headers = 0
    for line in t.split(b"\n"):
        u = line.lstrip(b" \t\r")
        if not u:
            continue
        lines += 1
        if len(u) >= 2 and u[0] in b"-*+" and u[1] == 0x20:
            bullets += 1
        elif len(u) >= 4 and u.startswith(b"\xe2\x80\xa2"):
            bullets += 1
        elif u[0] == 0x23:
            headers += 1
        elif 0x30 <= u[0] <= 0x39 and NUMBERED_RE.match(u):
            numbered += 1
    digits = len(DIGIT_RE.findall(t))
    upper = len(UPPER_RE.findall(t))
    letters = upper + len(LOWER_RE.findall(t))
    urls = t.count(b"http://") + t.count(b"https://") + t.count(b"www.")
    hedge = apol = refu = fp = conf = wbytes = 0
    for w in toks:
        wbytes += len(w)
        if w in HEDGES:
            hedge += 1
        elif w in APOLOGY:
            apol += 1
        elif w in REFUSAL:
            refu += 1
        elif w in FIRST:
            fp += 1
        elif w in CONFIDENT:
            conf += 1
    nt = len(toks)
    for k in range(nt - 2):
        if toks[k] == b"as" and toks[k + 1] == b"an" and toks[k + 2] == b"ai":
            apol += 1
    return (logc(n, 8), logc(nt, 6), logc(lines, 4),
            min(1.0, wbytes / nt / 10.0) if nt else 0.0,
            bullets / lines if lines else 0.0, numbered / lines if lines else 0.0,
            headers / lines if lines else 0.0, logc(len(BOLD_RE.findall(t)), 3),
            min(1.0, 4.0 * digits / n) if n else 0.0, upper / letters if letters else 0.0,
            logc(t.count(b"?"), 3), logc(t.count(b"!"), 3), logc(hedge, 3), logc(apol, 3),
            logc(refu, 3), logc(fp, 3), logc(conf, 3), logc(urls, 3), logc(len(CODE_RE.findall(t)), 3))


class TextFeaturizer:
    """Hashing vectorizer with a vocabulary cache: each distinct n-gram is FNV-hashed once."""

    def __init__(self):
        self.vocab = {}
        self.hashes = np.empty(0, dtype=np.uint64)

    def chunk(self, pairs):
        """pairs: list of (chosen bytes, rejected bytes) -> (rowptr, col, val) CSR of d rows."""
        vocab = self.vocab
        ids, lens, named = [], [], []
        for ch, rj in pairs:
            for t in (ch, rj):
                toks = TOKEN_RE.findall(t.lower())
                grams = toks + [a + b" " + b for a, b in zip(toks, toks[1:])]
                start = len(ids)
                for g in grams:
                    i = vocab.get(g)
                    if i is None:
                        i = vocab[g] = len(vocab)
                    ids.append(i)
                lens.append(len(ids) - start)
                named.append(named_features(t, toks))
        if len(vocab) > len(self.hashes):
            new = list(vocab.keys())[len(self.hashes):]
            self.hashes = np.concatenate([self.hashes, fnv1a64_many(new)])
        P = len(pairs)
        h = self.hashes[np.asarray(ids, dtype=np.int64)]
        resp = np.repeat(np.arange(2 * P, dtype=np.int64), np.asarray(lens, dtype=np.int64))
        bucket = (h & np.uint64(NB - 1)).astype(np.int64)
        sign = np.where((h >> np.uint64(63)) != 0, -1.0, 1.0)
        key, inv = np.unique(resp * NB + bucket, return_inverse=True)
        s = np.bincount(inv, weights=sign)
        keep = s != 0
        key, s = key[keep], s[keep]
        r = key // NB
        v = np.log1p(np.abs(s))
        ss = np.bincount(r, weights=v * v, minlength=2 * P)
        scale = np.where(ss > 0, 1.0 / np.sqrt(np.where(ss > 0, ss, 1.0)), 0.0)
        hv = (np.sign(s) * v * scale[r] * np.where(r % 2 == 0, 1.0, -1.0)).astype(np.float32)
        # chosen and rejected entries of a pair in the same bucket are summed (in float32)
        pkey, pinv = np.unique((r // 2) * D + (key % NB), return_inverse=True)
        pv = np.bincount(pinv, weights=hv.astype(np.float64)).astype(np.float32)
        nm = np.asarray(named, dtype=np.float64).astype(np.float32).reshape(P, 2, NNAMED)
        nd = nm[:, 0, :] - nm[:, 1, :]
        pr, nj = np.nonzero(nd)
        allkey = np.concatenate([pkey, pr * D + NB + nj])
        allval = np.concatenate([pv, nd[pr, nj]])
        nz = allval != 0
        allkey, allval = allkey[nz], allval[nz]
        order = np.argsort(allkey, kind="stable")
        allkey, allval = allkey[order], allval[order]
        rowptr = np.zeros(P + 1, dtype=np.int64)
        np.cumsum(np.bincount(allkey // D, minlength=P), out=rowptr[1:])
        return rowptr, (allkey % D).astype(np.int32), allval


# ---- image features ------------------------------------------------------------------------------

T, GRID, HB, NORI = 32, 4, 4, 8
IMG_DIM = GRID * GRID * 3 + HB ** 3 + NORI + 3
_plans = {}


def _bounds(n):
    b = (np.arange(T) * n) // T
    e = np.maximum((np.arange(1, T + 1) * n) // T, b + 1)
    return b, e


def _plan(h, w):
    """Sampled rows, their band starts and counts, column starts and widths (cached per size)."""
    k = (h, w)
    if k not in _plans:
        yb, ye = _bounds(h)
        rows, starts, counts = [], [], []
        for y0, y1 in zip(yb, ye):
            step = max(1, (y1 - y0) // 4)
            r = list(range(y0, y1, step))
            starts.append(len(rows))
            counts.append(len(r))
            rows += r
        xb, xe = _bounds(w)
        _plans[k] = (np.asarray(rows), np.asarray(starts), np.asarray(counts, dtype=np.float64),
                     xb, xe, (xe - xb).astype(np.float64))
    return _plans[k]


def thumbnail(rgb):
    """(h, w, 3) uint8 -> (T, T, 3) float32 in [0, 1], the box filter of engine/features/imgfeat.c."""
    h, w = rgb.shape[:2]
    rows, starts, counts, xb, xe, widths = _plan(h, w)
    if h >= T and w >= T:
        band = np.add.reduceat(rgb[rows], starts, axis=0, dtype=np.uint64)  # (T, w, 3)
        cells = np.add.reduceat(band, xb, axis=1, dtype=np.uint64)  # (T, T, 3)
    else:  # small image: overlapping cells, loop
        cells = np.empty((T, T, 3), dtype=np.float64)
        for ty in range(T):
            sub = rgb[rows[starts[ty]:starts[ty] + int(counts[ty])]].astype(np.uint64).sum(axis=0)
            for tx in range(T):
                cells[ty, tx] = sub[xb[tx]:xe[tx]].sum(axis=0)
    n = counts[:, None, None] * widths[None, :, None] * 255.0
    return (cells / n).astype(np.float32)


def image_features(rgb):
    t = thumbnail(rgb)
    grid = (t.astype(np.float64).reshape(GRID, T // GRID, GRID, T // GRID, 3).sum(axis=(1, 3))
            / ((T // GRID) ** 2)).reshape(-1)
    b = np.minimum((t * np.float32(HB)).astype(np.int64), HB - 1)
    hist = np.bincount(((b[..., 0] * HB + b[..., 1]) * HB + b[..., 2]).ravel(),
                       minlength=HB ** 3) / float(T * T)
    lum = (np.float32(0.299) * t[..., 0] + np.float32(0.587) * t[..., 1]
           + np.float32(0.114) * t[..., 2])
    gx = lum[1:-1, 2:] - lum[1:-1, :-2]
    gy = lum[2:, 1:-1] - lum[:-2, 1:-1]
    mag = np.sqrt(gx * gx + gy * gy)
    m = mag > 0
    a = np.arctan2(gy[m].astype(np.float64), gx[m].astype(np.float64))
    a = np.where(a < 0, a + np.pi, a)
    bins = np.minimum((a / np.pi * NORI).astype(np.int64), NORI - 1)
    ori = np.bincount(bins, weights=mag[m].astype(np.float64), minlength=NORI)
    gsum = ori.sum()
    ori = ori / gsum if gsum > 0 else ori
    l64 = lum.astype(np.float64)
    mean = l64.mean()
    var = (l64 * l64).mean() - mean * mean
    bri = [mean, math.sqrt(max(var, 0.0)), gsum / ((T - 2) * (T - 2))]
    return np.concatenate([grid, hist, ori, bri]).astype(np.float32)


# ---- Bradley-Terry models ------------------------------------------------------------------------

TEXT, STANDARD, SA = 0, 1, 2
B1, B2, AEPS, SA_EPS, CLIP = 0.9, 0.999, 1e-8, 1e-7, 8.0
FOLD_OF_COL = (((np.arange(D, dtype=np.uint64) * np.uint64(0x9E3779B1)) & np.uint64(0xFFFFFFFF))
               * np.uint64(256) >> np.uint64(32)).astype(np.int64)


def bt_loss(m):
    return np.logaddexp(0.0, -m)


def bt_dloss(m):
    return -0.5 * (1.0 - np.tanh(0.5 * m))  # -sigmoid(-m)


class Data:
    def __init__(self, rowptr, col, val, img_of, img):
        self.rowptr, self.col, self.val, self.img_of, self.img = rowptr, col, val, img_of, img

    def gather(self, idx):
        s = self.rowptr[idx]
        ln = self.rowptr[idx + 1] - s
        off = np.cumsum(ln) - ln
        ent = np.arange(int(ln.sum()), dtype=np.int64) + np.repeat(s - off, ln)
        return np.repeat(np.arange(len(idx)), ln), self.col[ent], self.val[ent]


class Model:
    def __init__(self, method, data, rows, B=256):
        self.method, self.B = method, B
        self.wt = np.zeros(D, np.float32) if method != STANDARD else None
        self.w = np.zeros(D, np.float32) if method != TEXT else None
        self.V = None
        if method != TEXT:
            self.W = np.zeros((B, IMG_DIM + 1), np.float32)
            im = np.unique(data.img_of[rows])
            im = im[im >= 0]
            x = data.img[im].astype(np.float64)
            mean = x.mean(axis=0) if len(im) else np.zeros(IMG_DIM)
            sd = x.std(axis=0) if len(im) else np.zeros(IMG_DIM)
            istd = np.where(sd > 1e-6, 1.0 / np.where(sd > 1e-6, sd, 1.0), 0.0)
            z = np.clip((data.img - mean.astype(np.float32)) * istd.astype(np.float32), -CLIP, CLIP)
            # row -1 (no image) picks the appended all-zero row
            self.V = np.vstack([np.hstack([z, np.ones((len(z), 1), np.float32)]),
                                np.zeros((1, IMG_DIM + 1), np.float32)]).astype(np.float32)

    def forward(self, data, idx):
        n = len(idx)
        bi, c, v = data.gather(idx)
        mt = np.bincount(bi, weights=self.wt[c] * v, minlength=n) if self.wt is not None else None
        mm = G = V = None
        if self.w is not None:
            mm = np.bincount(bi, weights=self.w[c] * v, minlength=n)
            G = np.bincount(bi * self.B + FOLD_OF_COL[c], weights=v,
                            minlength=n * self.B).reshape(n, self.B).astype(np.float32)
            V = self.V[data.img_of[idx]]
            mm += np.einsum("ij,ij->i", G, V @ self.W.T)
        return bi, c, v, mt, mm, G, V

    def margins(self, data, idx, bs=8192):
        out = np.empty(len(idx))
        for b0 in range(0, len(idx), bs):
            r = self.forward(data, idx[b0:b0 + bs])
            out[b0:b0 + bs] = r[3] if self.w is None else r[4]
        return out

    def train(self, data, rows, rng, epochs=8, batch=256, lr=0.05, l2=1e-3):
        params = [p for p in (self.wt, self.w) if p is not None]
        mo = [np.zeros_like(p) for p in params]
        ve = [np.zeros_like(p) for p in params]
        if self.w is not None:
            mW, vW = np.zeros_like(self.W), np.zeros_like(self.W)
        t = 0
        for _ in range(epochs):
            order = rows[rng.permutation(len(rows))]
            for b0 in range(0, len(order), batch):
                idx = order[b0:b0 + batch]
                n = len(idx)
                bi, c, v, mt, mm, G, V = self.forward(data, idx)
                if self.method == TEXT:
                    ct, cm = bt_dloss(mt) / n, None
                elif self.method == STANDARD:
                    ct, cm = None, bt_dloss(mm) / n
                else:
                    lt, l = bt_loss(mt), bt_loss(mm)
                    wi = SA_EPS / 2 + lt / (SA_EPS + lt + l)  # detached
                    ct, cm = bt_dloss(mt) / n, wi * bt_dloss(mm) / n
                t += 1
                bc1, bc2 = 1 - B1 ** t, 1 - B2 ** t
                alpha = np.float32(lr * math.sqrt(bc2) / bc1)
                eh = np.float32(AEPS * math.sqrt(bc2))
                uc, inv = np.unique(c, return_inverse=True)
                k = 0
                for cc in (ct, cm):
                    if cc is None:
                        continue
                    p, m1, m2 = params[k], mo[k], ve[k]
                    k += 1
                    g = np.bincount(inv, weights=cc[bi] * v, minlength=len(uc)).astype(np.float32)
                    g += l2 * p[uc]
                    a = m1[uc] * B1 + (1 - B1) * g
                    b = m2[uc] * B2 + (1 - B2) * g * g
                    m1[uc], m2[uc] = a, b
                    p[uc] -= alpha * a / (np.sqrt(b) + eh)
                if self.w is not None:  # dense Adam on W: dW (B, dv) = G^T diag(c) V
                    gW = G.T @ (cm.astype(np.float32)[:, None] * V) + l2 * self.W
                    mW *= B1
                    mW += (1 - B1) * gW
                    vW *= B2
                    vW += (1 - B2) * gW * gW
                    self.W -= alpha * mW / (np.sqrt(vW) + eh)
        return self


# ---- pipeline ------------------------------------------------------------------------------------


def load(path, chunk=20000):
    base = os.path.dirname(os.path.abspath(path))
    tf = TextFeaturizer()
    ids, prompts, img_key, img_of, longer, parts = [], [], [], [], [], []
    img_rows, feats = {}, []
    pend = []
    t_img = 0.0
    nnz = 0

    def flush():
        nonlocal nnz
        if pend:
            rp, c, v = tf.chunk(pend)
            parts.append((rp[1:] + nnz, c, v))
            nnz += int(rp[-1])
            pend.clear()

    with open(path, "rb") as f:
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            prompt = r.get("prompt", r.get("question")) or ""
            ch, rj = (r.get("chosen") or "").encode(), (r.get("rejected") or "").encode()
            ids.append(r.get("id", str(len(ids))))
            prompts.append(prompt.encode())
            longer.append(np.sign(len(r.get("chosen") or "") - len(r.get("rejected") or "")))
            im = r.get("image") or r.get("img_path") or r.get("image_path")
            row, key = -1, 0
            if im:
                t0 = time.perf_counter()
                with open(im if os.path.isabs(im) else os.path.join(base, im), "rb") as g:
                    blob = g.read()
                hx = hashlib.sha256(blob).hexdigest()
                row = img_rows.get(hx)
                if row is None:
                    with Image.open(__import__("io").BytesIO(blob)) as pic:
                        rgb = np.asarray(pic.convert("RGB"))
                    row = img_rows[hx] = len(feats)
                    feats.append(image_features(rgb))
                key = int(hx[:16], 16) | 1
                t_img += time.perf_counter() - t0
            img_of.append(row)
            img_key.append(key)
            pend.append((ch, rj))
            if len(pend) == chunk:
                flush()
    flush()
    rowptr = np.concatenate([np.zeros(1, np.int64)] + [p[0] for p in parts])
    col = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int32)
    val = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0, np.float32)
    img = np.asarray(feats, dtype=np.float32).reshape(len(feats), IMG_DIM)
    data = Data(rowptr, col, val, np.asarray(img_of, dtype=np.int64), img)
    group = np.asarray(img_key, dtype=np.uint64)
    noimg = group == 0
    if noimg.any():
        ph = fnv1a64_many([p for p, z in zip(prompts, noimg) if z])
        group[noimg] = ph
    return data, ids, group, np.asarray(longer), t_img, tf


def sigmoid(m):
    return 0.5 * (1.0 + np.tanh(0.5 * m))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("jsonl")
    ap.add_argument("--out", default=None)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--confident", type=float, default=0.8)
    a = ap.parse_args()
    tm = {}
    t0 = time.perf_counter()
    data, ids, group, longer, t_img, tf = load(a.jsonl)
    n = len(ids)
    tm["load_s"] = time.perf_counter() - t0
    tm["images_s"] = t_img
    t1 = time.perf_counter()
    K = a.folds
    fold = (mix64(group ^ mix64(np.asarray([a.seed], dtype=np.uint64))) % np.uint64(K)).astype(np.int64)
    margins = np.zeros((3, n))
    rng = np.random.default_rng(a.seed)
    for f in range(K):
        tr, ev = np.nonzero(fold != f)[0], np.nonzero(fold == f)[0]
        if len(ev) == 0 or len(tr) == 0:
            continue
        for meth in (TEXT, STANDARD, SA):
            m = Model(meth, data, tr).train(data, tr, rng, epochs=a.epochs)
            margins[meth, ev] = m.margins(data, ev)
    full = Model(TEXT, data, np.arange(n)).train(data, np.arange(n), rng, epochs=a.epochs)
    tm["train_s"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    pt, pm, psa = sigmoid(margins[0]), sigmoid(margins[1]), sigmoid(margins[2])
    lt, l = bt_loss(margins[0]), bt_loss(margins[1])
    sfc = SA_EPS / 2 + lt / (SA_EPS + lt + l)
    c = a.confident
    cat = np.where((pt <= 1 - c) & (pm <= 1 - c), "suspect-label",
                   np.where(pt >= c, "text-shortcut",
                            np.where((pt < 0.5) & (pm > 0.5), "needs-image", "ambiguous")))
    top = np.argsort(-np.abs(full.wt))[:50]
    inv_vocab = {}
    for g, h in zip(tf.vocab.keys(), tf.hashes):
        inv_vocab.setdefault(int(h) & (NB - 1), g)
    summary = {
        "pairs": n,
        "images": int(len(data.img)),
        "text_accuracy": float((pt > 0.5).mean()),
        "mm_accuracy": float((pm > 0.5).mean()),
        "sa_accuracy": float((psa > 0.5).mean()),
        "shortcut_rate": float((cat == "text-shortcut").mean()),
        "pick_longer": float(((longer > 0) + 0.5 * (longer == 0)).mean()),
        "top_features": [(inv_vocab.get(int(j), b"").decode("utf-8", "replace") if j < NB
                          else f"named {j - NB}", float(full.wt[j])) for j in top[:10]],
    }
    if a.out:
        os.makedirs(a.out, exist_ok=True)
        order = np.argsort(-pt, kind="stable")
        with open(os.path.join(a.out, "scores.csv"), "w") as f:
            f.write("id,fold,p_text,p_mm,p_sa,sfc,category\n")
            for i in order:
                f.write(f"{ids[i]},{fold[i]},{pt[i]:.6g},{pm[i]:.6g},{psa[i]:.6g},{sfc[i]:.6g},{cat[i]}\n")
    tm["write_s"] = time.perf_counter() - t2
    tm["total_s"] = time.perf_counter() - t0
    summary["timings"] = tm
    if a.out:
        with open(os.path.join(a.out, "summary.json"), "w") as f:
            json.dump(summary, f, indent=1)
    json.dump(summary, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
