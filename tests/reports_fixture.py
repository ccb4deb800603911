#!/usr/bin/env python3
"""Fills a migrated mmaudit workspace with score/crossdist rows as the scoring engine writes them,
so the report and gate can be exercised without training. Standard library only.

usage: reports_fixture.py DB [--pairs N] [--only NAME...]
Datasets (default: the first two; these two are written as runs from before issue 12, without
"has_images" and "mm_informative"):
  'shortcut-heavy'  text-only accuracy 0.91, shortcut rate 0.62
  'clean'           text-only accuracy 0.54, shortcut rate 0.03
  'straddle'        1250 pairs, text-only accuracy 0.7024 (Wilson 95%: 0.677 to 0.727, which
                    contains 0.7), pick-longer 0.69; mm_informative true
  'textonly'        no images: has_images false, MM figures and sfd null; text-only accuracy 0.80,
                    pick-more-formatted 0.70
  'uninformative'   images, but mm_informative false (counterfactual image test); text-only
                    accuracy 0.764, pick-more-formatted 0.684, sfd 0.58
--issue12 adds the keys of the engine's issue-12 contract to 'shortcut-heavy' (an informative MM-RM:
mm_informative true, image_reliance, weights with auto = sfc) and two datasets: 'hh-text' (text-only:
has_images false, MM figures null; its pair_scores rows keep numbers in p_mm/p_sa/sfc, the reports
must go by the flag) and 'mllm-like' (images, mm_informative false, image_reliance, weights with
auto = debias and a cue named with <script>); their categories and shortcut rates are computed from
their rows; 'clean' keeps none of them (a run made before issue 12).
--issue13 adds three datasets (XD_NAMES: a 44-character name, one with HTML metacharacters) and
a newer crossdist run over them with every key of issue 13 and all six methods (matrices of a real
weak-image run): n per cell, bootstrap intervals, paired gains over standard, the ranking
(poe, jtt, debias, shortcut-aware, standard), the recommendation (poe, +8.8 points, CI 7.6 to
9.9), the leave-one-environment-out selection (computed here from the matrices), overlap and
exclusions by kind (20 shared images, 25 shared answer pairs), the third dataset split by pair.
Thumbnails are small PNGs drawn here."""
import argparse, json, math, sqlite3, struct, zlib


def png(w, h, seed):
    rows = b""
    for y in range(h):
        row = bytearray([0])
        for x in range(w):
            row += bytes([(x * 4 + seed * 40) % 256, (y * 5 + seed * 70) % 256, (x * y + seed * 90) % 256])
        rows += bytes(row)

    def chunk(t, d):
        c = struct.pack(">I", len(d)) + t + d
        return c + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


def metrics(n, text_acc, mm, sa, sc_rate, right, wrong, blind_long, formatted=0.6, images=True):
    nr = int(round(n * text_acc))
    with_img = n - n // 10 if images else 0
    return {"pairs": n, "pairs_with_image": with_img, "pairs_without_image": n - with_img,
            "text_accuracy": text_acc, "mm_accuracy": mm, "sa_accuracy": sa, "shortcut_rate": sc_rate,
            "sfd": None if right is None else right - wrong, "mm_acc_text_right": right,
            "mm_acc_text_wrong": wrong, "n_text_right": nr, "n_text_wrong": n - nr,
            "blind": {"pick_longer": blind_long, "pick_shorter": 1 - blind_long, "pick_more_formatted": formatted},
            "chosen_longer_rate": blind_long,
            "categories": {"text-shortcut": int(n * sc_rate), "needs-image": n // 8 if images else 0,
                           "suspect-label": n // 50,
                           "ambiguous": n - int(n * sc_rate) - (n // 8 if images else 0) - n // 50},
            "thresholds": {"shortcut": 0.8, "wrong": 0.2}}


def dataset_metrics(name, n):
    """The score run's metrics for a fixture dataset; the issue-12 keys as the contract fixes them."""
    if name == "shortcut-heavy":
        return metrics(n, 0.91, 0.92, 0.90, 0.62, 0.97, 0.55, 0.83)
    if name == "clean":
        return metrics(n, 0.54, 0.81, 0.83, 0.03, 0.83, 0.78, 0.52)
    if name == "straddle":
        m = metrics(n, 0.7024, 0.74, 0.75, 0.25, 0.80, 0.60, 0.69)
        m.update({"has_images": True, "mm_informative": True, "min_image_gain": 0.01,
                  "mm_informative_reason": "swapping in another pair's image lowers MM-RM accuracy by 6.0"
                                           " points (95% CI 4.1 to 7.9), wholly above --min-image-gain 0.01"})
        return m
    if name == "textonly":
        m = metrics(n, 0.80, None, None, 0.40, None, None, 0.65, formatted=0.70, images=False)
        m.update({"has_images": False, "mm_informative": None, "image_reliance": None})
        return m
    m = metrics(n, 0.764, 0.763, 0.76, 0.35, 0.90, 0.32, 0.682, formatted=0.684)
    m.update({"has_images": True, "mm_informative": False, "min_image_gain": 0.01,
              "mm_informative_reason": "swapping in another pair's image lowers MM-RM accuracy by 0.1"
                                       " points (95% CI -0.2 to 0.4), not wholly above --min-image-gain"
                                       " 0.01: the MM-RM does not use the image beyond the text",
              "image_reliance": {"n": n, "swap_flip_rate": 0.01, "blank_flip_rate": 0.005,
                                 "mean_image_effect": 0.002, "mm_accuracy_true": 0.763,
                                 "mm_accuracy_swapped": 0.762, "mm_accuracy_blank": 0.763,
                                 "swap_accuracy_drop": 0.001, "swap_accuracy_drop_ci95": [-0.002, 0.004]}})
    return m


REASON_NOT = ("swapping in another pair's image lowers MM-RM accuracy by 0.1 points (95% CI -0.2 to 0.4),"
              " not wholly above --min-image-gain 0.01: the MM-RM does not use the image beyond the text")
REASON_YES = ("swapping in another pair's image lowers MM-RM accuracy by 9.8 points (95% CI 7.1 to 12.5),"
              " wholly above --min-image-gain 0.01: the MM-RM uses the image")
EVIL_CUE = "w:<script>alert(4)</script>"


def wmethod(pl, pmf, clr, refit, ci, ess, n, ts, other, cues, informative=True):
    return {"available": True, "informative": informative, "pick_longer": pl, "pick_more_formatted": pmf,
            "chosen_longer_rate": clr, "refit_text_accuracy": refit, "refit_text_accuracy_ci95": ci,
            "ess": ess, "ess_share": ess / n, "mean_weight_text_shortcut": ts, "mean_weight_other": other,
            "cues": [{"feature": f, "present_share": p, "chosen_share": c} for f, p, c in cues]}


def issue12_keys(name, m, n):
    """The contract's keys for dataset `name` (metrics m of n scored pairs), set in place."""
    if name in ("hh-text", "mllm-like", "shortcut-heavy"):
        m["min_image_gain"] = 0.01
    if name == "hh-text":
        m.update({"has_images": False, "mm_informative": None,
                  "mm_informative_reason": "no images: no MM-RM is trained", "image_reliance": None})
        cues = [("named: response length (log chars)", 0.97, 0.70), ("named: markdown list items", 0.31, 0.66)]
        m["weights"] = {
            "auto": "debias", "auto_reason": "no images: sfc needs an MM-RM, so debias (w = 1 - p_text)",
            "none": wmethod(0.70, 0.58, 0.70, 0.7024, [0.66, 0.74], n, n, 1.0, 1.0, cues),
            "debias": wmethod(0.5623, 0.5312, 0.5623, 0.5871, [0.539, 0.634], 0.712 * n, n, 0.41, 1.22,
                              [("named: response length (log chars)", 0.97, 0.55),
                               ("named: markdown list items", 0.31, 0.52)]),
            "jtt": wmethod(0.6102, 0.55, 0.6102, 0.6633, [0.617, 0.709], 0.64 * n, n, 0.8, 1.9,
                           [("named: response length (log chars)", 0.97, 0.60),
                            ("named: markdown list items", 0.31, 0.58)]),
            "sfc": {"available": False, "reason": "sfc needs images: this dataset has none"}}
    elif name == "mllm-like":
        m.update({"has_images": True, "mm_informative": False, "mm_informative_reason": REASON_NOT,
                  "image_reliance": {"n": n - n // 10, "swap_flip_rate": 0.0123, "blank_flip_rate": 0.0087,
                                     "mean_image_effect": 0.0042, "mm_accuracy_true": 0.7634,
                                     "mm_accuracy_swapped": 0.7625, "mm_accuracy_blank": 0.7611,
                                     "swap_accuracy_drop": 0.0009, "swap_accuracy_drop_ci95": [-0.002, 0.004]}})
        cues = [("named: markdown bold/emphasis (log count)", 0.42, 0.74), (EVIL_CUE, 0.05, 0.61)]
        m["weights"] = {
            "auto": "debias",
            "auto_reason": "mm_informative is false: the MM-RM does not use the image, so debias (w = 1 - p_text)",
            "none": wmethod(0.6818, 0.61, 0.6818, 0.7641, [0.72, 0.80], n, n, 1.0, 1.0, cues),
            "debias": wmethod(0.5512, 0.5401, 0.5512, 0.6123, [0.563, 0.659], 0.671 * n, n, 0.52, 1.31,
                              [("named: markdown bold/emphasis (log count)", 0.42, 0.56), (EVIL_CUE, 0.05, 0.51)]),
            "jtt": wmethod(0.6011, 0.57, 0.6011, 0.7012, [0.655, 0.745], 0.7525 * n, n, 0.9, 1.4,
                           [("named: markdown bold/emphasis (log count)", 0.42, 0.63), (EVIL_CUE, 0.05, 0.55)]),
            "sfc": wmethod(0.686, 0.612, 0.686, 0.7702, [0.727, 0.81], 0.98 * n, n, 1.038, 0.975,
                           [("named: markdown bold/emphasis (log count)", 0.42, 0.75), (EVIL_CUE, 0.05, 0.62)],
                           informative=False)}
    elif name == "shortcut-heavy":
        m.update({"has_images": True, "mm_informative": True, "mm_informative_reason": REASON_YES,
                  "image_reliance": {"n": n - n // 10, "swap_flip_rate": 0.214, "blank_flip_rate": 0.187,
                                     "mean_image_effect": 0.91, "mm_accuracy_true": 0.92,
                                     "mm_accuracy_swapped": 0.822, "mm_accuracy_blank": 0.84,
                                     "swap_accuracy_drop": 0.098, "swap_accuracy_drop_ci95": [0.071, 0.125]}})
        cues = [("named: response length (log chars)", 0.99, 0.83)]
        m["weights"] = {
            "auto": "sfc", "auto_reason": "mm_informative is true: the paper's sfc weights",
            "none": wmethod(0.83, 0.6, 0.83, 0.91, [0.88, 0.94], n, n, 1.0, 1.0, cues),
            "sfc": wmethod(0.66, 0.55, 0.66, 0.71, [0.66, 0.76], 0.62 * n, n, 0.45, 1.8,
                           [("named: response length (log chars)", 0.99, 0.64)]),
            "debias": wmethod(0.6, 0.55, 0.6, 0.68, [0.63, 0.73], 0.5 * n, n, 0.3, 1.9,
                              [("named: response length (log chars)", 0.99, 0.6)]),
            "jtt": {"available": False, "reason": "the text proxy makes fewer than 20 held-out errors"}}


XD_NAMES = ["VLFeedback-llava-1.5-13b-sampled-preferences", "rlaif-v <hard> & \"co\"", "mmpr-sci"]
XD_ACC = {  # rows trained on, columns tested on
    "text": [[0.9473, 0.5207, 0.0598], [0.4164, 0.4678, 0.5755], [0.0527, 0.4793, 0.9402]],
    "standard": [[0.9534, 0.8181, 0.5676], [0.8967, 0.9153, 0.8147], [0.4985, 0.717, 0.9441]],
    "shortcut-aware": [[0.8855, 0.7902, 0.6039], [0.8713, 0.9105, 0.8392], [0.5957, 0.7257, 0.8716]],
    "poe": [[0.9159, 0.8595, 0.7245], [0.8997, 0.9413, 0.8735], [0.6859, 0.795, 0.9157]],
    "debias": [[0.8409, 0.7921, 0.6725], [0.8764, 0.922, 0.8657], [0.6758, 0.7546, 0.849]],
    "jtt": [[0.9544, 0.8595, 0.7196], [0.9433, 0.9519, 0.8882], [0.6261, 0.7921, 0.9451]]}
XD_N = [987, 10390, 1020]  # test pairs of each dataset (one wide count for the cell labels)


def ood(a, envs):
    cells = [a[i][j] for i in envs for j in envs if i != j]
    return sum(cells) / len(cells)


def issue13_crossdist():
    """The metrics of a crossdist run with every issue-13 key (engine/eval/crossdist.c's layout)."""
    d = len(XD_NAMES)
    allv = list(range(d))
    std_ood = ood(XD_ACC["standard"], allv)
    methods, ranking = {}, []
    for m, a in XD_ACC.items():
        iid = sum(a[i][i] for i in allv) / d
        o = ood(a, allv)
        g = o - std_ood
        sfd = [[None] * d for _ in allv] if m == "text" else \
            [[round(0.05 + 0.1 * ((i * 3 + j + len(m)) % 4), 3) for j in allv] for i in allv]
        methods[m] = {"accuracy": a, "n": [XD_N[:] for _ in allv], "iid_mean": iid, "ood_mean": o,
                      "gap": iid - o, "sfd": sfd,
                      "sfd_mean": None if m == "text" else sum(map(sum, sfd)) / (d * d),
                      "iid_mean_ci95": [iid - 0.009, iid + 0.008], "ood_mean_ci95": [o - 0.010, o + 0.011],
                      "ood_vs_standard": g,
                      "ood_vs_standard_ci95": [0.0, 0.0] if m == "standard" else [g - 0.0113, g + 0.0114]}
        if m != "text":
            ranking.append({"method": m, "ood_mean": o, "ood_mean_ci95": methods[m]["ood_mean_ci95"],
                            "ood_vs_standard": g, "ood_vs_standard_ci95": methods[m]["ood_vs_standard_ci95"]})
    ranking.sort(key=lambda r: -r["ood_mean"])
    best = ranking[0]
    lo, hi = best["ood_vs_standard_ci95"]
    rec = {"method": best["method"], "beats_standard": True, "ood_gain": best["ood_vs_standard"],
           "ood_gain_ci95": [lo, hi],
           "reason": "%s beats standard out of distribution by %.1f points (95%% CI %.1f to %.1f): train with it"
                     % (best["method"], 100 * best["ood_vs_standard"], 100 * lo, 100 * hi)}
    per, tot = [], 0.0
    for e in allv:  # leave one environment out: chosen on the others, scored on e
        rest = [k for k in allv if k != e]
        ch = max((r["method"] for r in ranking), key=lambda m: (ood(XD_ACC[m], rest), -list(XD_ACC).index(m)))
        acc = sum(XD_ACC[ch][a][e] for a in rest) / len(rest)
        per.append({"held_out": XD_NAMES[e], "chosen": ch, "ood_accuracy": acc})
        tot += acc
    sel = {"rule": "leave one environment out: for each environment, the method with the best o.o.d. mean"
                   " among the other environments is chosen and scored on it (trained elsewhere)",
           "ood_mean": tot / d, "ood_mean_ci95": [tot / d - 0.009, tot / d + 0.012],
           "standard_ood_mean": std_ood, "per_environment": per}
    return {"datasets": XD_NAMES, "split_by": ["group", "group", "pair"], "test_fraction": 0.2,
            "methods": methods,
            "overlap": [{"a": XD_NAMES[0], "b": XD_NAMES[1], "shared_images": 20, "shared_answer_pairs": 0,
                         "shared_prompts": 12},
                        {"a": XD_NAMES[1], "b": XD_NAMES[2], "shared_images": 0, "shared_answer_pairs": 25,
                         "shared_prompts": 3}],
            "excluded_test_pairs": 45, "excluded_by_kind": {"shared_image": 20, "shared_answer_pair": 25},
            "ranking": ranking, "recommendation": rec, "selection": sel, "bootstrap": 200}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("db")
    ap.add_argument("--pairs", type=int, default=400)
    ap.add_argument("--only", nargs="+",
                    choices=["clean", "shortcut-heavy", "straddle", "textonly", "uninformative"])
    ap.add_argument("--issue12", action="store_true")
    ap.add_argument("--issue13", action="store_true")
    a = ap.parse_args()
    db = sqlite3.connect(a.db)
    c = db.cursor()
    names = ["shortcut-heavy", "clean"] if not a.only else a.only
    if a.issue12:
        names += ["hh-text", "mllm-like"]
    if a.issue13:
        names += XD_NAMES
    for i in range(6):
        c.execute("INSERT INTO images(id, sha256, width, height, format, bytes, thumb) VALUES (?,?,?,?,?,?,?)",
                  (i + 1, "%064x" % (i * 977 + 1), 640, 480, "png", 50000, png(96, 72, i) if i != 5 else None))
    c.execute("INSERT INTO runs(id, kind, status, seed, options, versions, command, started_at, finished_at,"
              " seconds, metrics) VALUES (1, 'score', 'done', 42, ?, ?, ?, '2025-03-01T10:00:00Z',"
              " '2025-03-01T10:02:05Z', 125.0, '{}')",
              (json.dumps({"folds": 5, "epochs": 4, "threads": 2}),
               json.dumps({"mmaudit": "0.1.0", "sqlite": "3.40.1", "openblas": "0.3.21"}),
               "mmaudit score --db ws.db"))
    pid = 1
    for d, name in enumerate(names, start=1):
        heavy = name == "shortcut-heavy"
        new = name in ("hh-text", "mllm-like")
        images = name != "textonly"
        n = 1250 if name == "straddle" else a.pairs
        c.execute("INSERT INTO datasets(id, name) VALUES (?, ?)", (d, name))
        c.execute("INSERT INTO source_files(id, dataset_id, path, sha256, bytes, records, pairs, errors)"
                  " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                  (d, d, "data/%s.jsonl" % name, "%064x" % (d * 12345), n * 300, n + 2, n, 2))
        for line in (3, 9):
            c.execute("INSERT INTO ingest_errors(dataset_id, file_id, path, line, code, reason) VALUES"
                      " (?, ?, ?, ?, 'bad-json', 'line is not valid JSON; fix or remove it')",
                      (d, d, "data/%s.jsonl" % name, line))
        m = metrics(n, 0.70, 0.7634, 0.77, 0.0, 0.85, 0.60, 0.6818) if new else dataset_metrics(name, n)
        cats = {"text-shortcut": 0, "needs-image": 0, "suspect-label": 0, "ambiguous": 0}
        rows = []
        for i in range(n):
            u = ((i * 7919) % 1000) / 1000.0
            if new:
                p = 0.3 + 0.65 * u
            elif heavy:
                p = 0.5 + 0.5 * math.sqrt(u) if i % 8 else 0.05 + 0.4 * u
            else:
                p = 0.25 + 0.6 * u if i % 8 else 0.1 + 0.35 * u
            cat = "text-shortcut" if p >= 0.8 else (
                "needs-image" if p < 0.5 and i % 8 == 0 and images else "ambiguous")
            if name == "hh-text" and cat == "needs-image":
                cat = "ambiguous"  # no MM-RM, so no needs-image
            cats[cat] += 1
            evil = heavy and i == 3
            chosen = ("Sure! Here is a detailed answer:\n\n1. The red car on the left is parked.\n"
                      "2. Two people cross the street.\n\n" + "It is a sunny day. " * (i % 40)) if heavy else \
                     "A red car is parked next to a tree."
            if evil:
                chosen = '<script>alert(1)</script> "quoted", comma\nnew line =HYPERLINK("x")'
            c.execute("INSERT INTO pairs(id, dataset_id, file_id, line, ext_id, prompt, chosen, rejected, image_id)"
                      " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      (pid, d, d, i + 1, '=HYPERLINK("x","y")' if evil else "%s-%05d" % (name[:5], i),
                       "What is happening in this picture? Describe the vehicles.",
                       chosen, "A car." if heavy else "A blue truck is parked next to a tree.",
                       None if i % 10 == 9 or name == "hh-text" or not images else 1 + (i % 6)))
            rows.append((pid, i % 5, p, min(0.99, p + 0.1) if images else None, 0.85 if images else None,
                         1 - p if images else None, cat))
            pid += 1
        c.executemany("INSERT INTO pair_scores(run_id, pair_id, fold, p_text, p_mm, p_sa, sfc, category)"
                      " VALUES (1, ?, ?, ?, ?, ?, ?, ?)", rows)
        if new:
            m["categories"] = cats
            m["shortcut_rate"] = cats["text-shortcut"] / a.pairs
            m["text_accuracy"] = sum(r[2] > 0.5 for r in rows) / a.pairs
            if name == "hh-text":
                m.update({"pairs_with_image": 0, "pairs_without_image": a.pairs, "mm_accuracy": None,
                          "sa_accuracy": None, "sfd": None, "mm_acc_text_right": None,
                          "mm_acc_text_wrong": None})
        if a.issue12:
            issue12_keys(name, m, a.pairs)
        c.execute("INSERT INTO run_datasets(run_id, dataset_id, metrics) VALUES (1, ?, ?)", (d, json.dumps(m)))
        feats = (["len_diff", "n_lines", "list_items", "w:sure", "w:detailed", "bi:here_is", "digits",
                  "w:sorry", "w:cannot", "hedges", "w:red", "w:car", "md_bold", "w:the", "w:a", "w:x"]
                 if heavy else ["w:red", "w:blue", "w:truck", "w:car", "len_diff", "w:tree"])
        for r, f in enumerate(feats, start=1):
            w = (2.5 if heavy else 0.6) / r * (-1 if f in ("w:sorry", "w:cannot", "hedges", "w:blue") else 1)
            c.execute("INSERT INTO top_features(run_id, dataset_id, rank, feature, weight, present, acc_present)"
                      " VALUES (1, ?, ?, ?, ?, ?, ?)", (d, r, f, w, 0.9 / r, 0.95 - 0.02 * r))
    if a.issue13:
        ids = {nm: names.index(nm) + 1 for nm in XD_NAMES}
        cd = issue13_crossdist()
        c.execute("INSERT INTO runs(id, kind, status, seed, options, versions, command, started_at, finished_at,"
                  " seconds, metrics) VALUES (3, 'crossdist', 'done', 1, ?, ?,"
                  " 'mmaudit crossdist --db ws.db --methods all --select', '2025-03-01T10:07:00Z',"
                  " '2025-03-01T10:09:00Z', 120.0, ?)",
                  (json.dumps({"test_fraction": 0.2, "methods": list(XD_ACC)}),
                   json.dumps({"mmaudit": "0.1.0"}), json.dumps(cd)))
        for m, a2 in XD_ACC.items():
            for i, tr in enumerate(XD_NAMES):
                for j, te in enumerate(XD_NAMES):
                    c.execute("INSERT INTO crossdist_cells(run_id, method, train_ds, test_ds, n, accuracy, sfd)"
                              " VALUES (3, ?, ?, ?, ?, ?, ?)",
                              (m, ids[tr], ids[te], XD_N[j], a2[i][j], cd["methods"][m]["sfd"][i][j]))
    if len(names) >= 2:
        names = names[:2]
        acc = {"text": [[0.9, 0.51], [0.55, 0.54]], "standard": [[0.92, 0.58], [0.66, 0.81]],
               "shortcut-aware": [[0.9, 0.71], [0.74, 0.83]]}
        methods = {}
        for m, a2 in acc.items():
            iid = (a2[0][0] + a2[1][1]) / 2
            ood = (a2[0][1] + a2[1][0]) / 2
            methods[m] = {"accuracy": a2, "iid_mean": iid, "ood_mean": ood, "gap": iid - ood,
                          "sfd": [[0.3, 0.2], [0.1, 0.05]], "sfd_mean": 0.1625}
        c.execute("INSERT INTO runs(id, kind, status, seed, options, versions, command, started_at, finished_at,"
                  " seconds, metrics) VALUES (2, 'crossdist', 'done', 42, '{\"test_fraction\": 0.2}', ?,"
                  " 'mmaudit crossdist --db ws.db', '2025-03-01T10:03:00Z', '2025-03-01T10:06:00Z', 180.0, ?)",
                  (json.dumps({"mmaudit": "0.1.0"}),
                   json.dumps({"datasets": names, "test_fraction": 0.2, "methods": methods,
                               "overlap": [{"a": names[0], "b": names[1], "shared_images": 0,
                                            "shared_prompts": 3}]})))
        for m, a2 in acc.items():
            for i in range(2):
                for j in range(2):
                    c.execute("INSERT INTO crossdist_cells(run_id, method, train_ds, test_ds, n, accuracy, sfd)"
                              " VALUES (2, ?, ?, ?, ?, ?, ?)", (m, i + 1, j + 1, a.pairs // 5, a2[i][j], 0.1))
    db.commit()


if __name__ == "__main__":
    main()
