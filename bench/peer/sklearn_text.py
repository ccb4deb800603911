#!/usr/bin/python3
"""bench/peer/sklearn_text.py DATA.jsonl - the text-only proxy alone, as a team would write it with
scikit-learn: HashingVectorizer word 1-2 grams (2^18 features, signed) of each answer, the pair as
chosen - rejected, a Bradley-Terry model as logistic regression without intercept (liblinear; each
difference also given mirrored with label 0), GroupKFold(5) by prompt (the split key mmaudit uses
for text-only pairs), held-out accuracy = share of pairs whose margin favours the chosen answer.
Prints one JSON line: {"pairs", "text_accuracy", "cpu_seconds", "wall_seconds"}."""
import json
import sys
import time

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

t0, c0 = time.time(), time.process_time()
rows = [json.loads(l) for l in open(sys.argv[1])]
prompts = [r.get("prompt") or r.get("question") or "" for r in rows]
hv = HashingVectorizer(ngram_range=(1, 2), n_features=1 << 18, alternate_sign=True, norm=None)
d = hv.transform([r["chosen"] for r in rows]) - hv.transform([r["rejected"] for r in rows])
d = d.tocsr()
groups = np.array([hash(p) for p in prompts])
right = np.zeros(len(rows), dtype=bool)
for tr, te in GroupKFold(n_splits=5).split(d, groups=groups):
    X = sp.vstack([d[tr], -d[tr]]).tocsr()
    y = np.r_[np.ones(len(tr)), np.zeros(len(tr))]
    m = LogisticRegression(solver="liblinear", fit_intercept=False, C=1.0, max_iter=200)
    m.fit(X, y)
    right[te] = d[te] @ m.coef_.ravel() > 0
print(json.dumps({"pairs": len(rows), "text_accuracy": float(right.mean()),
                  "cpu_seconds": time.process_time() - c0, "wall_seconds": time.time() - t0}))
