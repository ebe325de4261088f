"""The BM25 top-k kernel behind `BM25Index.top_k_many`, compiled by numba (cached on disk after the
first call).

Per query, exactly the top k of `BM25Index.scores_many` (the same documents, order and float32
scores), without adding every posting of every word (MaxScore pruning):

1. theta, a lower bound on the k-th best score: a word held by at least k instructions gives k
   instructions a score of at least its k-th largest score times its count in the query (every
   word's score is positive, so the query's other words only add);
2. a word's bound is its largest score in any instruction times its count in the query; the words
   whose bounds add up to less than theta cannot lift an instruction that holds none of the other
   ("essential") words into the top k;
3. so only the instructions holding an essential word are scored: the essential words through
   their postings, the others looked up in their dense row (frequent words) or through their
   postings, each instruction's scores added in the query's word order, the same float32
   additions `scores_many` makes (a word absent from an instruction adds 0 there or nothing);
4. the top k of those, best first, ties in index order, positive scores only.
"""

from __future__ import annotations

import numba
import numpy as np

MARGIN = 1e-4  # relative room for float32 rounding when bounds are compared with theta


@numba.njit(cache=True)
def top_k(q_ptr, q_terms, indptr, indices, data, word_max, word_kth, row_of, dense, k,
          count, essential, acc, mark, touched, out_ids, out_scores, out_n, out_scored):
    """For query q (its word ids q_terms[q_ptr[q]:q_ptr[q + 1]], in order, repeats kept): its top
    k in out_ids[q, :out_n[q]] / out_scores[q, :out_n[q]]; out_scored[q] the instructions scored.
    count, essential (per word) and acc, mark (per instruction) are all zeros and left so."""
    for q in range(q_ptr.size - 1):
        a, b = q_ptr[q], q_ptr[q + 1]
        uniq = np.empty(b - a, np.int64)
        nu = 0
        for j in range(a, b):
            t = q_terms[j]
            if count[t] == 0:
                uniq[nu] = t
                nu += 1
            count[t] += 1
        theta = 0.0
        bounds = np.empty(nu, np.float64)
        for i in range(nu):
            t = uniq[i]
            theta = max(theta, word_kth[t] * count[t])
            bounds[i] = word_max[t] * count[t]
        theta *= 1.0 - MARGIN
        total = 0.0
        for i in np.argsort(bounds, kind="mergesort"):  # lowest bound first
            if (total + bounds[i]) * (1.0 + MARGIN) >= theta:
                break
            total += bounds[i]
            essential[uniq[i]] = 2  # skipped (every word left is essential)
        n = 0
        for i in range(nu):
            t = uniq[i]
            if essential[t] == 2:
                continue
            essential[t] = 1
            for p in range(indptr[t], indptr[t + 1]):
                d = indices[p]
                if mark[d] == 0:
                    mark[d] = 1
                    touched[n] = d
                    n += 1
        for j in range(a, b):
            t = q_terms[j]
            if essential[t] == 1:
                for p in range(indptr[t], indptr[t + 1]):
                    acc[indices[p]] += data[p]
            elif row_of[t] >= 0:
                r = row_of[t]
                for i in range(n):
                    acc[touched[i]] += dense[r, touched[i]]
            else:
                for p in range(indptr[t], indptr[t + 1]):
                    if mark[indices[p]]:
                        acc[indices[p]] += data[p]
        m = 0
        for i in range(n):
            d = touched[i]
            s = acc[d]
            acc[d] = 0.0
            mark[d] = 0
            if s <= 0 or k == 0:
                continue
            if m == k:
                if s < out_scores[q, k - 1] or (s == out_scores[q, k - 1] and d > out_ids[q, k - 1]):
                    continue
                m -= 1
            pos = m
            while pos > 0 and (out_scores[q, pos - 1] < s or (out_scores[q, pos - 1] == s and out_ids[q, pos - 1] > d)):
                out_scores[q, pos] = out_scores[q, pos - 1]
                out_ids[q, pos] = out_ids[q, pos - 1]
                pos -= 1
            out_scores[q, pos] = s
            out_ids[q, pos] = d
            m += 1
        out_n[q], out_scored[q] = m, n
        for i in range(nu):
            count[uniq[i]] = 0
            essential[uniq[i]] = 0
