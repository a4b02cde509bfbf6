"""Faces grouped into people: the clustering core (pure; not wired into hg-build yet).

Two ways, as issue 17 plans them:

- `assign`: incremental, per imported chunk. A new face joins the person of its nearest
  known face when that one is closer than `THRESHOLD`, else it starts a new person (new
  faces of one chunk also join each other, in order). Known people keep their ids, so ids
  are stable across imports. Cost: one blockwise distance matrix of the chunk's faces
  against every known face (`nearest`), memory bounded by `BLOCK`.
- `cluster`: a full re-clustering. The graph of face pairs closer than `THRESHOLD`
  (`edges`, blockwise, so 100k faces never make a 100k x 100k matrix), then Chinese
  whispers on it (what dlib's face clustering example does; synchronous rounds on sparse
  matrices here).

Descriptors are dlib's 128-d ResNet vectors: faces of one person are within about 0.6 of
each other (dlib's own threshold, also the one verified in ml-offline.md; HomeGallery's
face search uses 0.55).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

THRESHOLD = 0.6
BLOCK = 8192
"""Known faces per distance block: 8192 x (a chunk's faces) floats at a time."""
PAIR_BLOCK = 16 * 2**20
"""Distances per block of `edges` (float32: 64 MB)."""


def _squared_norms(x: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", x, x)


def _blocks(n: int, size: int = BLOCK) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


def nearest(queries: np.ndarray, known: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index, distance) of each query's nearest known vector (-1, inf without any)."""
    q = np.asarray(queries, np.float32)
    best_d2 = np.full(len(q), np.inf, np.float32)
    best_i = np.full(len(q), -1, np.int64)
    if len(known) == 0 or len(q) == 0:
        return best_i, np.sqrt(best_d2)
    qn = _squared_norms(q)
    for part in _blocks(len(known)):
        k = np.asarray(known[part], np.float32)
        d2 = qn[:, None] + _squared_norms(k)[None, :] - 2.0 * (q @ k.T)
        i = np.argmin(d2, axis=1)
        d = d2[np.arange(len(q)), i]
        better = d < best_d2
        best_d2[better] = d[better]
        best_i[better] = i[better] + part.start
    return best_i, np.sqrt(np.maximum(best_d2, 0))


def assign(
    known: np.ndarray,
    known_people: np.ndarray,
    new: np.ndarray,
    next_id: int,
    threshold: float = THRESHOLD,
) -> np.ndarray:
    """Person ids of the `new` faces: the person of the nearest known face within
    `threshold`, else of the nearest earlier new face of this chunk within it, else a new
    id from `next_id` on."""
    new = np.asarray(new, np.float32)
    index, distance = nearest(new, known)
    people = np.full(len(new), -1, np.int64)
    near = distance < threshold
    people[near] = np.asarray(known_people, np.int64)[index[near]]
    alone = np.flatnonzero(people < 0)
    if len(alone):  # faces of people not seen before: among themselves, in order
        block = new[alone]
        d2 = (
            _squared_norms(block)[:, None]
            + _squared_norms(block)[None, :]
            - 2.0 * (block @ block.T)
        )
        for a, face in enumerate(alone):
            earlier = np.flatnonzero(d2[a, :a] < threshold * threshold)
            if len(earlier):
                people[face] = people[alone[earlier[np.argmin(d2[a, earlier])]]]
            else:
                people[face] = next_id
                next_id += 1
    return people


def edges(vectors: np.ndarray, threshold: float = THRESHOLD) -> np.ndarray:
    """[E, 2] pairs (i < j) of vectors closer than `threshold`, blockwise."""
    x = np.asarray(vectors, np.float32)
    norms = _squared_norms(x)
    limit = threshold * threshold
    found = []
    # rows per block so that a block's distances stay ~64 MB whatever the number of faces
    for rows in _blocks(len(x), max(1, PAIR_BLOCK // max(1, len(x)))):
        d2 = norms[rows, None] + norms[None, rows.start :] - 2.0 * (x[rows] @ x[rows.start :].T)
        i, j = np.nonzero(d2 < limit)
        j = j + rows.start
        i = i + rows.start
        keep = i < j
        found.append(np.stack([i[keep], j[keep]], axis=1))
    return np.concatenate(found) if found else np.zeros((0, 2), np.int64)


def cluster(vectors: np.ndarray, threshold: float = THRESHOLD, rounds: int = 30) -> np.ndarray:
    """A label (0..k-1) per vector: Chinese whispers over the graph of pairs closer than
    `threshold`, each face counting itself once; a vector with no close pair is a cluster
    of its own.

    The rounds are synchronous (every face takes the label most of its neighbours have,
    ties to the larger label) and vectorised with scipy's sparse matrices: dlib's own
    `chinese_whispers` takes the graph as a Python list of tuples and peaked at ~1.4 GB
    for 100k faces (2.5M pairs); this stays at the pairs' arrays."""
    from scipy import sparse

    n = len(vectors)
    if n == 0:
        return np.zeros(0, np.int64)
    pairs = edges(vectors, threshold)
    rows = np.concatenate([pairs[:, 0], pairs[:, 1], np.arange(n)])
    cols = np.concatenate([pairs[:, 1], pairs[:, 0], np.arange(n)])
    labels = np.arange(n)
    for _ in range(rounds):
        votes = sparse.coo_matrix((np.ones(len(rows), np.float32), (rows, labels[cols])), (n, n))
        votes = votes.tocsr()
        votes.sum_duplicates()
        # the most votes per row, ties to the larger label: scale votes so that the label
        # breaks ties without outweighing a whole vote
        votes.data += votes.indices.astype(np.float32) / (2.0 * n)
        new = np.asarray(votes.argmax(axis=1)).ravel()
        if (new == labels).all():
            break
        labels = new
    _, dense = np.unique(labels, return_inverse=True)
    return dense
