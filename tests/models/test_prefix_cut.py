"""Where an item's shared context may be cut for reuse (no model needed)."""

from assay.models.llama_cpp import MIN_BATCH, ROW_GROUP, shared_prefix_cut


def test_the_cut_is_a_multiple_of_the_row_group_before_the_first_scored_row():
    context = list(range(100, 130))  # 30 shared tokens
    wholes = [context + [1] * 12, context + [2] * 9, context + [3] * 15]
    cut = shared_prefix_cut(wholes, [30, 30, 30], n_batch=512)
    assert cut % ROW_GROUP == 0 and cut <= 29
    assert cut == 28


def test_every_batch_after_the_cut_keeps_at_least_min_batch_rows():
    context = list(range(100, 130))
    wholes = [context + [1], context + [2, 2]]  # the short choice leaves 30 rows in all
    cut = shared_prefix_cut(wholes, [30, 30], n_batch=512)
    assert all(len(w) - 1 - cut >= MIN_BATCH for w in wholes)
    assert cut == 20


def test_the_cut_respects_the_batch_boundaries_of_a_full_evaluation():
    context = list(range(40))
    wholes = [context + [1] * 10, context + [2] * 10]
    # n_batch 32: a full evaluation batches rows 0-31 and 32-48. Cutting at 36
    # would leave the prefix's second batch 4 rows long, so the cut moves back to 32.
    assert shared_prefix_cut(wholes, [40, 40], n_batch=32) == 32
    assert shared_prefix_cut(wholes, [40, 40], n_batch=512) == 36


def test_nothing_is_reused_for_one_choice_or_a_short_context():
    assert shared_prefix_cut([list(range(50))], [40], n_batch=512) == 0
    assert shared_prefix_cut([[1, 2, 3, 4, 5], [1, 2, 3, 4, 6]], [4, 4], n_batch=512) == 0
    assert shared_prefix_cut([[1] * 20 + [2], [3] * 20 + [4]], [20, 20], n_batch=512) == 0  # nothing shared
