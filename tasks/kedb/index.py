"""An in-memory index of the known errors that may match new incidents.

Built once per database and kept for the life of the process; before each
search a cheap query (highest id and newest ``updated_at``, both indexed)
tells whether the KEDB changed, and only a change to what matching looks at
(text, signature, state, validity) rebuilds it. Scoring is vectorised with
numpy over all known errors at once; :meth:`KedbIndex.score_one` scores one
known error with :func:`tasks.kedb_signals.score_doc`, the reference used to
check the index and as the brute-force baseline.
"""

from __future__ import annotations

import logging
import math
import threading
from datetime import datetime, timedelta, timezone
from typing import Optional

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from problemflow.models.kedb import KnownError
from problemflow.tasks.kedb.signals import (
    ELIGIBLE,
    KEYWORDS_FOR_FULL_CREDIT,
    PENALTIES,
    WEIGHTS,
    Query,
    content_hash,
    doc_of,
    document_text,
    score_doc,
)

logger = logging.getLogger("problemflow.kedb")

_COLUMNS = (KnownError.id, KnownError.title, KnownError.symptoms, KnownError.state,
            KnownError.signature, KnownError.valid_until, KnownError.updated_at)


def _postings(lists: dict) -> dict:
    return {k: np.fromiter(v, dtype=np.int64, count=len(v)) for k, v in lists.items()}


class KedbIndex:
    """Every eligible known error, indexed by each signal."""

    def __init__(self, rows: list, stamp: tuple):
        self.stamp = stamp
        self.counted_at = 0.0
        self.hashes = {r.id: content_hash(r) for r in rows}
        eligible = [r for r in rows if r.state in ELIGIBLE]
        self.docs = [doc_of(r) for r in eligible]
        n = self.size = len(self.docs)
        self.ids = np.array([d.id for d in self.docs], dtype=np.int64)
        self.valid_until = np.array([d.valid_until for d in self.docs], dtype=np.float64)
        self.fixed = np.array([d.fixed for d in self.docs], dtype=bool)
        self.n_labels = np.array([len(d.labels) for d in self.docs], dtype=np.float64)
        self.n_keywords = np.array(
            [min(len(d.keywords), KEYWORDS_FOR_FULL_CREDIT) for d in self.docs], dtype=np.float64
        )
        self.has_services = np.array([bool(d.services) for d in self.docs], dtype=bool)
        lists: dict[str, dict] = {k: {} for k in
                                  ("fingerprint", "label", "label_key", "service", "category",
                                   "subcategory", "symptom", "keyword", "template")}
        for i, d in enumerate(self.docs):
            for f in d.fingerprints:
                lists["fingerprint"].setdefault(f, []).append(i)
            for k, v in d.labels.items():
                lists["label"].setdefault((k, v), []).append(i)
                lists["label_key"].setdefault(k, []).append(i)
            for s in d.services:
                lists["service"].setdefault(s, []).append(i)
            for name in ("category", "subcategory", "symptom"):
                value = getattr(d, name)
                if value:
                    lists[name].setdefault(value, []).append(i)
            for kw in d.keywords:
                lists["keyword"].setdefault(kw, []).append(i)
            if d.template:
                lists["template"].setdefault(d.template, []).append(i)
        self.postings = {name: _postings(v) for name, v in lists.items()}
        # a keyword many known errors share tells little: weight log(1 + n/df) / log(1 + n), in (0, 1]
        self.rarity = {kw: math.log(1 + n / len(docs)) / math.log(1 + n)
                       for kw, docs in lists["keyword"].items()} if n else {}
        self.vectorizer = None
        self.matrix = None  # documents x terms, l2-normalised rows
        self.terms_by_doc = None  # terms x documents, for the query's terms only
        if n:
            from sklearn.feature_extraction.text import TfidfVectorizer  # slow import: only when needed

            vectorizer = TfidfVectorizer(sublinear_tf=True, stop_words="english", dtype=np.float32)
            try:
                self.matrix = vectorizer.fit_transform([document_text(r) for r in eligible]).tocsr()
                self.vectorizer = vectorizer
                self.terms_by_doc = self.matrix.T.tocsr()
                self.analyzer = vectorizer.build_analyzer()
                self.vocabulary = vectorizer.vocabulary_
                self.idf = vectorizer.idf_
            except ValueError:  # nothing but stop words anywhere
                self.vectorizer = None

    # ---- scoring -------------------------------------------------------

    def _text_vector(self, text: str) -> Optional[dict[int, float]]:
        """The query's TF-IDF weights by term (as the vectorizer computes them, without its overhead)."""
        if self.vectorizer is None or not text.strip():
            return None
        counts: dict[int, int] = {}
        for token in self.analyzer(text):
            term = self.vocabulary.get(token)
            if term is not None:
                counts[term] = counts.get(term, 0) + 1
        if not counts:
            return None
        weights = {t: (1.0 + math.log(c)) * float(self.idf[t]) for t, c in counts.items()}
        norm = math.sqrt(sum(w * w for w in weights.values()))
        return {t: w / norm for t, w in weights.items()}

    def score_all(self, query: Query, now: float) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Scores of every indexed known error, and each signal's contribution."""
        n = self.size
        parts: dict[str, np.ndarray] = {}
        p = self.postings

        def flag(name: str, key) -> None:
            hit = p[name].get(key) if key is not None else None
            if hit is not None:
                values = np.zeros(n, dtype=np.float64)
                values[hit] = WEIGHTS[name]
                parts[name] = values

        flag("fingerprint", query.fingerprint)
        flag("template", query.template)
        flag("service", query.service)
        flag("category", query.category)
        flag("subcategory", query.subcategory)
        flag("symptom", query.symptom)
        conflicts = None
        if query.labels:
            matched = np.zeros(n, dtype=np.float64)
            conflicts = np.zeros(n, dtype=np.int32)
            for k, v in query.labels.items():
                hit = p["label"].get((k, v))
                if hit is not None:
                    matched[hit] += 1
                    conflicts[hit] -= 1
                keyed = p["label_key"].get(k)
                if keyed is not None:
                    conflicts[keyed] += 1
            with np.errstate(divide="ignore", invalid="ignore"):
                parts["labels"] = np.where(self.n_labels > 0, matched / self.n_labels, 0.0) * WEIGHTS["labels"]
        if query.text:
            found = np.zeros(n, dtype=np.float64)
            any_found = False
            for gram in query.keyword_grams():
                hit = p["keyword"].get(gram)
                if hit is not None:
                    found[hit] += self.rarity[gram]
                    any_found = True
            if any_found:
                with np.errstate(divide="ignore", invalid="ignore"):
                    share = np.where(self.n_keywords > 0, np.minimum(found / self.n_keywords, 1.0), 0.0)
                parts["keywords"] = share * WEIGHTS["keywords"]
            vector = self._text_vector(query.text)
            if vector is not None:
                sims = np.zeros(n, dtype=np.float64)
                indptr, indices, data = self.terms_by_doc.indptr, self.terms_by_doc.indices, self.terms_by_doc.data
                for term, weight in vector.items():
                    start, end = indptr[term], indptr[term + 1]
                    sims[indices[start:end]] += data[start:end] * weight
                parts["text"] = np.clip(sims, 0.0, 1.0) * WEIGHTS["text"]
        miss = np.ones(n, dtype=np.float64)
        for values in parts.values():
            miss *= 1.0 - values
        score = 1.0 - miss
        if query.service is not None:
            service_hit = parts.get("service")
            mismatch = self.has_services if service_hit is None else self.has_services & (service_hit == 0)
            score[mismatch] *= PENALTIES["service_mismatch"]
        if conflicts is not None:
            score[conflicts > 0] *= PENALTIES["label_conflict"]
        score[self.fixed] *= PENALTIES["fixed"]
        score[self.valid_until <= now] = 0.0
        return score, parts

    def top(self, query: Query, k: int, now: float, min_score: float = 0.0) -> list[tuple[int, float, dict]]:
        """The ``k`` best (index position, score, signals), best first, ties to the newest."""
        if not self.size:
            return []
        score, parts = self.score_all(query, now)
        keep = np.flatnonzero(score > min_score)
        if keep.size > k:
            keep = keep[np.argpartition(-score[keep], k - 1)[:k]]
            # the k-th score may tie with others left out: take every tie, then cut
            cutoff = score[keep].min()
            keep = np.flatnonzero(score >= cutoff)
        order = keep[np.lexsort((-self.ids[keep], -score[keep]))][:k]
        return [(int(i), float(score[i]), self._signals(i, parts)) for i in order]

    def _signals(self, i: int, parts: dict[str, np.ndarray]) -> dict:
        return {name: round(float(values[i]), 4) for name, values in parts.items() if values[i] > 0}

    def score_one(self, i: int, query: Query, now: float, vector=None, grams=None) -> tuple[float, dict]:
        """The same score for one known error, computed on its own (brute force)."""
        cosine = 0.0
        if vector is not None:
            start, end = self.matrix.indptr[i], self.matrix.indptr[i + 1]
            cosine = sum(vector.get(int(t), 0.0) * float(v) for t, v in
                         zip(self.matrix.indices[start:end], self.matrix.data[start:end]))
        if grams is None:
            grams = query.keyword_grams() if query.text else set()
        return score_doc(self.docs[i], query, now, cosine, grams, self.rarity)

    def brute_force(self, query: Query, k: int, now: float, min_score: float = 0.0):
        """Score every known error one by one (the baseline the index is measured against)."""
        vector = self._text_vector(query.text) if query.text else None
        grams = query.keyword_grams() if query.text else set()
        scored = []
        for i in range(self.size):
            score, signals = self.score_one(i, query, now, vector, grams)
            if score > min_score:
                scored.append((-score, -self.docs[i].id, i, score, signals))
        scored.sort()
        return [(i, score, signals) for _, _, i, score, signals in scored[:k]]


# ---- one index per database, refreshed when the KEDB changes ------------

_lock = threading.Lock()
_indexes: dict[str, KedbIndex] = {}


RECOUNT_SECONDS = 60.0
LATE_COMMIT_WINDOW = timedelta(minutes=10)


def _stamp(db_session: Session) -> tuple:
    """(highest id, newest updated_at): two index look-ups, whatever the KEDB's size."""
    top_id = select(func.max(KnownError.id)).scalar_subquery()
    newest = select(func.max(KnownError.updated_at)).scalar_subquery()
    return tuple(db_session.execute(select(top_id, newest)).one())


def _count(db_session: Session) -> int:
    return db_session.scalar(select(func.count(KnownError.id)))


def get_index(db_session: Session) -> KedbIndex:
    """The index for this session's database, rebuilt only when matching content changed.

    Known errors are retired, not deleted; a deletion is still noticed by a row
    count taken at most every :data:`RECOUNT_SECONDS`.
    """
    import time

    key = str(db_session.get_bind().url)
    stamp = _stamp(db_session)
    index = _indexes.get(key)
    now = time.monotonic()
    if index is not None and index.stamp == stamp and now - index.counted_at < RECOUNT_SECONDS:
        return index
    with _lock:
        index = _indexes.get(key)
        if index is not None and index.stamp[0] == stamp[0] and index.stamp[1] is not None:
            recount = now - index.counted_at >= RECOUNT_SECONDS
            if not recount or _count(db_session) == len(index.hashes):
                # a periodic look further back also catches a transaction that
                # committed an older timestamp after a newer one
                since = index.stamp[1] - (LATE_COMMIT_WINDOW if recount else timedelta(0))
                changed = db_session.execute(select(*_COLUMNS).where(KnownError.updated_at >= since)).all()
                if all(index.hashes.get(r.id) == content_hash(r) for r in changed):
                    index.stamp = stamp  # only counters or timestamps moved
                    if recount:
                        index.counted_at = now
                    return index
        rows = db_session.execute(select(*_COLUMNS)).all()
        index = KedbIndex(rows, stamp)
        index.counted_at = now
        _indexes[key] = index
        logger.info("KEDB index built: %d known errors, %d eligible", len(rows), index.size)
        return index


def now_ts() -> float:
    return datetime.now(timezone.utc).timestamp()
