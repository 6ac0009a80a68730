"""The boosted trees as vectorised numpy: the same raw score as scikit-learn's, to the bit, faster.

scikit-learn's ``HistGradientBoostingClassifier.decision_function`` walks each row down each tree
in a loop of its own (about 80 ns a row and tree on this machine, plus a pass of its categorical
preprocessing): 60 small trees took 8 s for a million cases, far from issue 8's million a second.
Here each tree is evaluated for a block of rows at once, the QuickScorer way: a tree's leaves are
numbered left to right and every row starts with a bit set for each leaf; each split that sends a
row right clears the bits of the leaves of its left subtree; the row's leaf is then its lowest
bit still set (the leftmost leaf every split on its path allows). That is one comparison and one
bitwise AND per split, each over a block of rows that stays in the CPU's cache, and one table
look-up per tree. The leaf values are added tree after tree onto the baseline, in scikit-learn's
order and in float64, so the raw score is bit-for-bit the same (``tests/test_trees.py``).

What is read from the fitted estimator (``_predictors``, ``_baseline_prediction``,
``_preprocessor``, ``_bin_mapper``) is scikit-learn's internal layout: ``compile_trees`` checks
it and returns None for anything it does not recognise (a multi-class model, a tree of more than
64 leaves, a different preprocessing), and the caller then keeps scikit-learn's own prediction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:  # scikit-learn is imported by whoever loaded the model
    from models.learner import CalibratedClassifier

Matrix = npt.NDArray[np.float64]
BLOCK = 16_384  # rows evaluated together: a few columns and the masks stay in cache
MAX_LEAVES = 64  # masks are at most 64 bits


@dataclass(frozen=True)
class Split:
    """One internal node: which input column, and which rows it sends right."""

    column: int  # in the caller's matrix (``Encoder.columns`` order)
    threshold: float  # numeric: right when value > threshold (missing: see missing_left)
    missing_left: bool
    left_values: tuple[float, ...] | None  # categorical: the raw codes that go left
    right_values: tuple[float, ...] | None  # categorical: the known raw codes that go right
    keep: int  # the mask of the leaves still possible when the row goes right

    def goes_right(self, values: Matrix) -> npt.NDArray[np.bool_]:
        if self.left_values is None:
            # a missing value follows missing_left: "> t" is False for NaN, "not <= t" True
            return values > self.threshold if self.missing_left else ~(values <= self.threshold)
        assert self.right_values is not None
        if self.missing_left:  # unknown and missing codes go left: right only when known right
            return _any_equal(values, self.right_values)
        return ~_any_equal(values, self.left_values)


def _any_equal(values: Matrix, codes: tuple[float, ...]) -> npt.NDArray[np.bool_]:
    # a handful of codes: a few comparisons beat np.isin's sort
    found = np.zeros(values.shape[0], dtype=np.bool_)
    for code in codes:
        found |= values == code
    return found


@dataclass(frozen=True)
class Tree:
    splits: tuple[Split, ...]
    values: Matrix  # leaf values, left to right
    mask_type: type[np.unsignedinteger[Any]]
    lookup: Matrix | None  # for up to 8 leaves: the value of each 8-bit mask's lowest leaf

    @property
    def full(self) -> int:
        return (1 << len(self.values)) - 1

    def add_to(self, raw: Matrix, columns: dict[int, Matrix]) -> None:
        """Add this tree's leaf value for each row of the block to ``raw``."""
        full = self.mask_type(self.full)
        mask = np.full(raw.shape[0], full, dtype=self.mask_type)
        if self.lookup is not None:
            # 8-bit masks: "full ^ (right * cleared)" is keep where right, full elsewhere,
            # several times cheaper than np.where with scalars
            for split in self.splits:
                ones = split.goes_right(columns[split.column]).view(np.uint8)
                cleared = np.uint8(self.full & ~split.keep)
                np.bitwise_and(mask, np.bitwise_xor(ones * cleared, full), out=mask)
            # indices as intp first: np.take converts small integer indices element by element
            # (about five times slower than the cast and the take together)
            raw += np.take(self.lookup, mask.astype(np.intp))
            return
        for split in self.splits:
            right = split.goes_right(columns[split.column])
            np.bitwise_and(mask, np.where(right, self.mask_type(split.keep), full), out=mask)
        lowest = mask & (~mask + self.mask_type(1))  # the lowest bit still set
        raw += self.values[np.log2(lowest.astype(np.float64)).astype(np.intp)]

    def add_reset_to(
        self,
        raw: Matrix,
        columns: dict[int, Matrix],
        reset: dict[int, npt.NDArray[np.bool_]],
        kept: dict[int, npt.NDArray[np.bool_]],
        right_at_reference: list[bool],
    ) -> None:
        """``add_to`` for slots x rows at once (``raw``'s shape): a row goes right at a split
        as its own value says, except where ``reset`` marks its column as set to the reference
        value, which goes right when ``right_at_reference`` says so (``kept`` is not reset)."""
        full = self.mask_type(self.full)
        mask = np.full(raw.shape, full, dtype=self.mask_type)
        for split, at_reference in zip(self.splits, right_at_reference, strict=True):
            right = split.goes_right(columns[split.column])
            if split.column not in reset:
                right = np.broadcast_to(right, raw.shape)
            elif at_reference:
                right = right | reset[split.column]
            else:
                right = right & kept[split.column]
            if self.lookup is not None:
                cleared = np.uint8(self.full & ~split.keep)
                np.bitwise_and(mask, np.bitwise_xor(right.view(np.uint8) * cleared, full), out=mask)
            else:
                np.bitwise_and(mask, np.where(right, self.mask_type(split.keep), full), out=mask)
        if self.lookup is not None:
            raw += np.take(self.lookup, mask.astype(np.intp))
            return
        lowest = mask & (~mask + self.mask_type(1))
        raw += self.values[np.log2(lowest.astype(np.float64)).astype(np.intp)]


@dataclass(frozen=True)
class CompiledTrees:
    """The raw score (log-odds) of a binary HistGradientBoostingClassifier."""

    baseline: float
    trees: tuple[Tree, ...]
    columns: tuple[int, ...]  # the input columns any split reads

    def decision(self, x: Matrix) -> Matrix:
        """The raw score of each row of ``x`` (the estimator's input columns, any order)."""
        n = x.shape[0]
        out: Matrix = np.empty(n, dtype=np.float64)
        for start in range(0, n, BLOCK):
            stop = min(start + BLOCK, n)
            columns = {j: np.ascontiguousarray(x[start:stop, j]) for j in self.columns}
            raw = np.full(stop - start, self.baseline, dtype=np.float64)
            for tree in self.trees:
                tree.add_to(raw, columns)
            out[start:stop] = raw
        return out

    def decision_with_resets(
        self,
        x: Matrix,
        resets: npt.NDArray[np.int32],
        factors: tuple[tuple[int, ...], ...],
        reference: Matrix,
    ) -> Matrix:
        """The raw score of each row of ``x`` again, once per slot (rows of ``resets``, slots x
        rows): with the columns of the factor ``factors[resets[slot, row]]`` set to their
        ``reference`` value (-1: none set). As ``decision`` of those reset rows, to the bit.

        A reset row goes the way of its reference value at a split on a reset column and the
        way of its own value elsewhere; both are known without building the reset rows: each
        split is compared once for the original rows, and its outcome for every slot is that
        comparison with the reset rows' outcome put in. All slots go through a tree together,
        so the work is a few operations a split over slots x rows, not a pass per slot."""
        slots, n = resets.shape
        out: Matrix = np.empty((slots, n), dtype=np.float64)
        owners = {j: [f for f, cols in enumerate(factors) if j in cols] for j in self.columns}
        goes = [[_reference_goes_right(s, reference) for s in tree.splits] for tree in self.trees]
        for start in range(0, n, BLOCK):
            stop = min(start + BLOCK, n)
            columns = {j: np.ascontiguousarray(x[start:stop, j]) for j in self.columns}
            chosen = resets[:, start:stop]
            # per column: the slots and rows where it holds its reference value
            reset = {j: _chosen(chosen, fs) for j, fs in owners.items() if fs}
            kept = {j: ~r for j, r in reset.items()}
            raw = np.full(chosen.shape, self.baseline, dtype=np.float64)
            for tree, right_at_reference in zip(self.trees, goes, strict=True):
                tree.add_reset_to(raw, columns, reset, kept, right_at_reference)
            out[:, start:stop] = raw
        return out


def _chosen(chosen: npt.NDArray[np.int32], factors: list[int]) -> npt.NDArray[np.bool_]:
    # a column is in one factor (models.reasons.FACTORS): one comparison, not np.isin's sort
    if len(factors) == 1:
        return np.equal(chosen, factors[0])
    return np.isin(chosen, factors)


def _reference_goes_right(split: Split, reference: Matrix) -> bool:
    return bool(split.goes_right(np.asarray([reference[split.column]], dtype=np.float64))[0])


def _mask_type(leaves: int) -> type[np.unsignedinteger[Any]]:
    for bits, kind in ((8, np.uint8), (16, np.uint16), (32, np.uint32)):
        if leaves <= bits:
            return kind  # type: ignore[return-value]
    return np.uint64


def _in_bitset(bitset: npt.NDArray[np.uint32], value: int) -> bool:
    return bool((int(bitset[value // 32]) >> (value % 32)) & 1)


def _input_columns(estimator: Any) -> list[int] | None:
    """For each column the trees see, the caller's column it comes from: without categorical
    features the same; with them scikit-learn's ColumnTransformer puts the categorical columns
    first (ordinal-encoded), then the numeric ones."""
    width = int(estimator.n_features_in_)
    preprocessor = getattr(estimator, "_preprocessor", None)
    if preprocessor is None:
        return list(range(width))
    order: list[int] = []
    for name, _, selected in preprocessor.transformers_:
        if name == "remainder":
            continue
        mask = np.asarray(selected)
        if mask.dtype != np.bool_ or mask.size != width:
            return None
        order.extend(int(j) for j in np.flatnonzero(mask))
    return order if sorted(order) == list(range(width)) else None


def _categories(estimator: Any) -> dict[int, npt.NDArray[np.float64]]:
    """The ordinal encoder's raw codes of each categorical input column (code index = the
    value the trees see)."""
    preprocessor = estimator._preprocessor
    if preprocessor is None:
        return {}
    encoder = preprocessor.named_transformers_["encoder"]
    selected = np.flatnonzero(np.asarray(preprocessor.transformers_[0][2]))
    return {
        int(j): np.asarray(cats, dtype=np.float64)
        for j, cats in zip(selected, encoder.categories_, strict=True)
    }


def _leaves_in_order(nodes: Any, node: int) -> list[int]:
    if nodes["is_leaf"][node]:
        return [node]
    return _leaves_in_order(nodes, int(nodes["left"][node])) + _leaves_in_order(
        nodes, int(nodes["right"][node])
    )


def _compile_tree(
    predictor: Any,
    source: list[int],
    categories: dict[int, npt.NDArray[np.float64]],
    known: npt.NDArray[np.uint32],
    known_index: npt.NDArray[np.uint32],
) -> Tree | None:
    nodes = predictor.nodes
    leaves = _leaves_in_order(nodes, 0)
    if len(leaves) > MAX_LEAVES:
        return None
    position = {leaf: i for i, leaf in enumerate(leaves)}
    mask_type = _mask_type(len(leaves))
    full = (1 << len(leaves)) - 1
    splits = []
    for node in range(len(nodes)):
        if nodes["is_leaf"][node]:
            continue
        left_leaves = _leaves_in_order(nodes, int(nodes["left"][node]))
        cleared = sum(1 << position[leaf] for leaf in left_leaves)
        feature = int(nodes["feature_idx"][node])
        column = source[feature]
        missing_left = bool(nodes["missing_go_to_left"][node])
        left_values = right_values = None
        if nodes["is_categorical"][node]:
            codes = categories[column]
            bitset = predictor.raw_left_cat_bitsets[int(nodes["bitset_idx"][node])]
            known_bits = known[int(known_index[feature])]
            left = [float(c) for v, c in enumerate(codes) if _in_bitset(bitset, v)]
            right = [
                float(c)
                for v, c in enumerate(codes)
                if not _in_bitset(bitset, v) and _in_bitset(known_bits, v)
            ]
            left_values, right_values = tuple(left), tuple(right)
        splits.append(
            Split(
                column=column,
                threshold=float(nodes["num_threshold"][node]),
                missing_left=missing_left,
                left_values=left_values,
                right_values=right_values,
                keep=full & ~cleared,
            )
        )
    values = np.asarray([float(nodes["value"][leaf]) for leaf in leaves], dtype=np.float64)
    lookup = None
    if mask_type is np.uint8:
        masks = np.arange(256)
        lowest = np.where(masks > 0, masks & -masks, 1)
        index = np.minimum(np.log2(lowest).astype(np.intp), len(values) - 1)
        lookup = values[index]  # mask 0 never happens: a row always reaches a leaf
    return Tree(tuple(splits), values, mask_type, lookup)


def compile_trees(estimator: Any) -> CompiledTrees | None:
    """The fitted binary estimator's trees as ``CompiledTrees``, or None when its layout is not
    the one this module knows (the caller then uses the estimator itself)."""
    try:
        predictors = estimator._predictors
        baseline = np.asarray(estimator._baseline_prediction, dtype=np.float64)
    except AttributeError:
        return None
    if baseline.size != 1 or any(len(per_iteration) != 1 for per_iteration in predictors):
        return None
    source = _input_columns(estimator)
    if source is None:
        return None
    categories = _categories(estimator)
    known, known_index = estimator._bin_mapper.make_known_categories_bitsets()
    trees = []
    for (predictor,) in predictors:
        tree = _compile_tree(predictor, source, categories, known, known_index)
        if tree is None:
            return None
        trees.append(tree)
    used = sorted({s.column for t in trees for s in t.splits})
    return CompiledTrees(float(baseline.reshape(-1)[0]), tuple(trees), tuple(used))


@dataclass(frozen=True)
class TreeProbability:
    """``model.probability_of`` through the compiled trees; and the probabilities of the same
    rows with one factor reset per slot (``CompiledTrees.decision_with_resets``), which the
    reasons need."""

    trees: CompiledTrees
    calibrate: Callable[[Matrix], Matrix]

    def __call__(self, x: Matrix) -> Matrix:
        return self.calibrate(self.trees.decision(x))

    def with_resets(
        self,
        x: Matrix,
        resets: npt.NDArray[np.int32],
        factors: tuple[tuple[int, ...], ...],
        reference: Matrix,
    ) -> Matrix:
        """Slots x rows: P(positive) with ``factors[resets[slot, row]]`` at ``reference``."""
        raw = self.trees.decision_with_resets(x, resets, factors, reference)
        # calibrated as one run of all slots, as the reset matrix stacked slot after slot was
        return self.calibrate(raw.reshape(-1)).reshape(raw.shape)


def probability_function(model: CalibratedClassifier) -> Callable[[Matrix], Matrix]:
    """``model.probability_of`` with the trees compiled (the same numbers, faster: a
    ``TreeProbability``); the model's own when its trees cannot be compiled."""
    compiled = compile_trees(model.estimator)
    if compiled is None:
        return model.probability_of
    return TreeProbability(compiled, model.calibrate)
