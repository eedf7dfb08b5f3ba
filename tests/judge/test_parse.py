"""The tolerant verdict parser: tables of reply -> verdict (or invalid).

The basic forms are in test_judge_units.py; these tables hold the replies
that used to be misread (a wrong verdict is far worse than an invalid one)
or missed. ``None`` means the reply must be invalid, with no verdict and no
score.
"""

from __future__ import annotations

import pytest

from assay.judge.parse import parse_reply

INVALID = None


def check(text, protocol, expected, scale=10, finish_reason=None):
    parsed = parse_reply(text, protocol, scale, finish_reason=finish_reason)
    if expected is INVALID:
        assert parsed.invalid, f"{text!r} read as {parsed.verdict!r}"
        assert parsed.verdict is None and parsed.score is None
        assert parsed.reason
    else:
        assert not parsed.invalid, f"{text!r} invalid: {parsed.reason}"
        assert parsed.verdict == expected, f"{text!r} read as {parsed.verdict!r}"


def one_of(text, protocol, allowed, scale=10):
    """For replies where a reading or invalid are both acceptable."""
    parsed = parse_reply(text, protocol, scale)
    assert (None if parsed.invalid else parsed.verdict) in allowed, f"{text!r} -> {parsed}"


# ----------------------------------------------------------------- reference (1)


@pytest.mark.parametrize(
    "text, expected",
    [
        # negations other than the exact words "not correct"
        ("The answer isn't correct.", "0"),
        ("This is not the correct answer.", "0"),
        ("The response is not right.", "0"),
        ("It's not correct.", "0"),
        ("The answer is never correct for negative inputs.", "0"),
        ("The answer does not seem correct.", "0"),
        ("The student's answer doesn't look right.", "0"),
        ("The response does not give the correct answer.", "0"),
        ("The response gives the correct answer.", "1"),
        # "answer is yes/no" is the content of an answer, not a correctness label
        ("The reference answer is no and the response also says no, so the response is correct.", "1"),
        ("The reference answer is yes but the response says no, so it is wrong.", "0"),
        ("The answer is yes.", INVALID),
        ("The reference answer is no.", INVALID),
        # explicit final verdicts
        ("Is the answer correct? No.", "0"),
        ("Is the answer correct? Yes.", "1"),
        ("Correct: no", "0"),
        ("Correct: yes", "1"),
        ("is_correct = false", "0"),
        ("The response says 12 and the reference 13.\nVerdict: incorrect", "0"),
        # a marker followed by blank lines reads the next non-empty line
        ("**Final Verdict:**\n\nIncorrect", "0"),
        ("Verdict:\n\ncorrect", "1"),
        # JSON quoted in prose is text; so is a dict in prose
        ('The response gives {"is_correct": true}, but the reference says false. The response is wrong.', "0"),
        ('The response returns {"total": a + b}, which gives the right sum. The response is correct.', "1"),
        # "final answer" as the subject, with its value in apposition
        ("The response's final answer, 42, is correct.", "1"),
        ("The final answer (42) is wrong.", "0"),
        ("Verdict: The response is correct.", "1"),
        ("[[incorrect]]", "0"),
        ("Parts are correct, but the total is off. Therefore, the answer is incorrect.", "0"),
        ("The reasoning is partially correct, but the final number is wrong. Verdict: incorrect", "0"),
        # a final verdict beats prose in the opposite direction
        ("The method is correct. Verdict: incorrect", "0"),
        # statements about the reference, or a bare value, are not about the response
        ("The correct answer is 5 and the response says 6, which is wrong.", "0"),
        ("The reference answer is correct.", INVALID),
        ("5 is the correct answer.", INVALID),
        ("The response says Paris, which is correct.", "1"),
        ("The method is correct but the final answer is wrong.", "0"),  # the method is not the response
        # markdown is ignored
        ("**Verdict:** incorrect", "0"),
        ("Verdict: **correct**", "1"),
        ("Incorrect.", "0"),
        ("Correct, the numbers match.", "1"),
        # failure verbs, reported speech, the judge's own voice
        ("The response fails to give the correct answer.", "0"),
        ("The response claims that 2+2=5 is correct. The response is wrong.", "0"),
        ("The response is incorrect because it says the answer is correct.", "0"),
        ("I'd say the answer is correct.", "1"),
        ("The student's answer is wrong.", "0"),
    ],
)
def test_reference_free_text(text, expected):
    check(text, "reference", expected)


@pytest.mark.parametrize(
    "text",
    [
        "The model's answer is close but not quite correct.",
        "The response is not entirely correct.",
        "The answer is not fully correct.",
        "The answer is not completely correct.",
    ],
)
def test_reference_partial_negations_are_never_correct(text):
    one_of(text, "reference", {"0", None})


@pytest.mark.parametrize(
    "text",
    [
        "The output is not incorrect.",  # double negative
        "The answer is not wrong.",
        "Partially correct, but misses the units.",  # hedge
        "The response is mostly correct.",
        "The answer is probably correct.",
        "The response is correct but the final answer is wrong.",  # both, nothing orders them
        "The answer is correct. The answer is wrong.",
        "Verdict: partially correct",  # a marker we cannot read
        "Verdict: correct. Final verdict: incorrect",
        "Is the answer correct? No. So it is correct.",
        "The response gets the right approach.",  # no verdict at all
        "Right, let me compare the two numbers.",
        "Correct answer: 5",  # a label for the gold answer
        "The response says the statement is correct.",  # the response's claim, not the verdict
        "Whether it is correct or not depends on interpretation.",  # a question, not a statement
        "It is not possible to tell if the answer is correct.",
        "I am not sure whether the response is correct.",
        "The response might be correct.",
        "The question asks: is 5 correct? yes or no",
    ],
)
def test_reference_unclear_is_invalid(text):
    check(text, "reference", INVALID)


@pytest.mark.parametrize(
    "text",
    [
        # a qualified conclusion must not outrank a later plain statement
        "Thus the response is correct only in its reasoning; the final answer is wrong.",
        "The method is fine, so the response is right up to step 3, where it makes an error. The final answer is wrong.",
    ],
)
def test_reference_qualified_conclusions_are_not_correct(text):
    one_of(text, "reference", {"0", None})


# ----------------------------------------------------------------- JSON (2)


@pytest.mark.parametrize(
    "text, protocol, expected",
    [
        # cut off mid-JSON: never read from the explanation
        (
            '{"explanation": "The response says bad answer, but the correct answer given in the reference is GOOD, '
            "so the response",
            "reference",
            INVALID,
        ),
        ('{"explanation": "Output B is better than A because', "pairwise", INVALID),
        ('{"explanation": "Only 3/10 of the facts are', "pointwise", INVALID),
        ('```json\n{"explanation": "correct", "verdict": "corr', "reference", INVALID),
        # JSON without a recognised verdict key
        ('{"explanation": "The response is correct."}', "reference", INVALID),
        ('{"explanation": "Response A is better.", "notes": "A"}', "pairwise", INVALID),
        ('{"explanation": "Rating: 7"}', "pointwise", INVALID),
        ('{"rationale": "fine"} Response A is better.', "pairwise", INVALID),
        # the value of a known key, never the key name
        ('{"correct": false}', "reference", "0"),
        ('{"correct": true}', "reference", "1"),
        ('{"is_correct": "no"}', "reference", "0"),
        ('{"correct": 0}', "reference", "0"),
        ('{"correct": 0.5}', "reference", INVALID),
        ('{"verdict": "The response is not correct."}', "reference", "0"),
        ('{"correct": "partially"}', "reference", INVALID),
        ('{"explanation": "the answer is right", "answer": "no"}', "reference", INVALID),
        # a recognised key's value wins over the explanation's text
        ('{"explanation": "Output B is better", "better": "A"}', "pairwise", "A"),
        ('{"explanation": "B is better", "Final Verdict": "Response A"}', "pairwise", "A"),
        ('{"explanation": "incorrect", "verdict": "correct"}', "reference", "1"),
        ('{"explanation": "Rating: 3", "rating": 8}', "pointwise", "8"),
        ('{"explanation": "x", "verdict": true}', "pairwise", INVALID),
        ('{"explanation": "x", "rating": true}', "pointwise", INVALID),
        # several verdict keys must agree
        ('{"verdict": "A", "winner": "B"}', "pairwise", INVALID),
        ('{"verdict": "A", "winner": "Response A"}', "pairwise", "A"),
        # a Python-style dict
        ("{'explanation': 'ok', 'verdict': 'B'}", "pairwise", "B"),
        # prose around a complete object
        ('Here is my verdict: {"explanation": "same", "verdict": "correct"}', "reference", "1"),
        ('{"explanation": "ok", "verdict": "A"} and some trailing text', "pairwise", "A"),
    ],
)
def test_json_replies_are_read_from_their_verdict_field_only(text, protocol, expected):
    check(text, protocol, expected)


@pytest.mark.parametrize(
    "text, protocol, expected",
    [
        # a complete object is fine even when the text after it was cut
        ('{"explanation": "ok", "verdict": "B"}\n\nAlso, resp', "pairwise", "B"),
        ('{"explanation": "ok", "rating": 7}', "pointwise", "7"),
        ('{"explanation": "A is better because', "pairwise", INVALID),
        # an explicit verdict at the very start
        ("Rating: 7\nThe response is clear but", "pointwise", "7"),
        ("[[7]] The response is clear but", "pointwise", "7"),
        ("[[B]] Response B covers", "pairwise", "B"),
        ("Verdict: A.\nResponse A is", "pairwise", "A"),
        ("Incorrect. The response says", "reference", "0"),
        ("[[correct]] because", "reference", "1"),
        # anything else is invalid: the verdict was to come at the end
        ("Rating: 7", "pointwise", INVALID),  # might have been 7/100 or 75
        ("Rating: 7 out of", "pointwise", INVALID),
        ("The response is good. Rating: 8", "pointwise", INVALID),
        ("Only 3/10 of the facts are right, so", "pointwise", INVALID),
        ("Response A is better because", "pairwise", INVALID),
        ("Verdict: A is", "pairwise", INVALID),
        ("The answer is correct but", "reference", INVALID),
        ("Correct", "reference", INVALID),
        (
            "A. Helpfulness: Response B answers the question directly, while Response A digresses into",
            "pairwise",
            INVALID,
        ),
        ("[[A>>B]] Response A covers", "pairwise", "A"),
    ],
)
def test_cut_off_replies(text, protocol, expected):
    check(text, protocol, expected, finish_reason="length")


def test_finish_reason_is_optional_and_stop_changes_nothing():
    assert parse_reply("Rating: 7", "pointwise", 10).verdict == "7"
    assert parse_reply("Rating: 7", "pointwise", 10, finish_reason="stop").verdict == "7"
    assert parse_reply("Rating: 7", "pointwise", 10, "length").invalid


# ----------------------------------------------------------------- pairwise (3)


@pytest.mark.parametrize(
    "text, expected",
    [
        # negative comparatives are votes for the other response
        ("Response A is more confusing and less accurate than Response B.", "B"),
        ("Response A is worse than Response B.", "B"),
        ("Output B is inferior.", "A"),
        ("Response B is more verbose but A is better", "A"),
        ("Verdict: A is worse", "B"),
        ("Answer: B is wrong, A is right", "A"),
        ("Response A is correct, while Response B is incorrect.", "A"),
        # neutral comparatives count for nothing
        ("Response A is more verbose.", INVALID),
        ("Response B is longer.", INVALID),
        # both responses named as better: cannot order
        ("Response A is better in style, but Response B is more accurate.", INVALID),
        ("A is not better than B.", INVALID),
        # ties only in verdict phrases
        ("how to tie a bowline", INVALID),
        ("The question is about a tie in football. Response B explains the rule.", INVALID),
        ("It's a tie.", "tie"),
        ("Tie.", "tie"),
        ("After weighing them:\nTie.", "tie"),
        ("[[C]]", "tie"),
        ("Both are equally good.", "tie"),
        ("Both responses are equally helpful.", "tie"),
        ("Neither is better.", "tie"),
        ("Verdict: tie", "tie"),
        ("Both are bad", "tie"),
        ("Both are equally good in style, but A is more accurate.", "A"),
        ("Both are correct, but A is better.", "A"),
        ("Both are correct, but A is more concise.", INVALID),
        ("Response A is slightly better, but overall they are equally good.", INVALID),
        # clear verdicts that used to be missed (5)
        ("**Verdict:** B", "B"),
        ("Verdict: **B**", "B"),
        ("Output (b) is better", "B"),
        ("Output (a) is better", "A"),
        ("B is better", "B"),
        ("The winner is clearly B.", "B"),
        ("Response B wins.", "B"),
        ("My final verdict is A.", "A"),
        ("The better response is B.", "B"),
        ("I would go with Response A because it is complete.", "A"),
        ("_Verdict:_ A", "A"),
        ("Verdict: b", "B"),  # one word after a marker is the verdict
        ("Verdict: neither", "tie"),
        ("Assistant B's answer is better.", "B"),
        ("A is a better response.", "A"),
        ("A is incorrect, B is correct, so B.", "B"),
        # an explicit verdict beats prose
        ("Response A is more accurate. Verdict: B", "B"),
        # a bare label at the start of a completion, with or without a run-on
        ("A\n\nResponse A covers both points.", "A"),
        ("B.\nThe following is an expert comparison.", "B"),
        ("A\n\nThe following is an expert comparison. Response B is better.", INVALID),
        ("A, B and C are listed in Response B.", INVALID),
        ("A: concise. B: verbose.", INVALID),
        # articles are not votes for A
        ("A concise answer is better here, and Response B is concise.", INVALID),
        ("I prefer a shorter response; B is better.", INVALID),
        # a verdict marker followed by blank lines, or as a heading
        ("**Final Verdict:**\n\n[[B]]", "B"),
        ("After comparing both, Assistant A is clearly more accurate.\n\n**Final Verdict:**\n\n[[A]]", "A"),
        ("### Final Verdict\n\n**B**", "B"),
        # Arena-Hard's labels
        ("[[A>>B]]", "A"),
        ("[[A>B]]", "A"),
        ("[[A=B]]", "tie"),
        ("[[B>A]]", "B"),
        ("[[B>>A]]", "B"),
        ("My final verdict is: [[B>A]]", "B"),
        # multiple-choice letters are not response labels
        (
            "The best answer is B, which Assistant A gave. Assistant B gave D, which is wrong. So Assistant A is better.",
            "A",
        ),
        (
            "Answer: C\n\nAssistant A selected C, which is correct; Assistant B selected D, which is wrong. "
            "Assistant A is better.",
            "A",
        ),
        # "both are X" describes quality when a preference follows
        ("Both responses are accurate. I slightly prefer B for its brevity.", "B"),
        ("Both responses are good. That said, Response B edges out A thanks to its examples.", "B"),
        ("Both responses are correct. However, Response B is more concise and easier to follow.", INVALID),
        ("Both responses are correct. Tie.", "tie"),
        # negated or asked preferences are not votes
        ("I don't think Response A is better.", INVALID),
        # a lettered outline is not verdict A
        (
            "A. Helpfulness: both address the question.\nB. Accuracy: both are factually fine.\n"
            "C. Style: Response B is more concise.",
            INVALID,
        ),
    ],
)
def test_pairwise_free_text(text, expected):
    check(text, "pairwise", expected)


@pytest.mark.parametrize(
    "text, allowed",
    [
        ("Response A is more harmful", {"B", None}),
        ("Response A is more harmful than Response B.", {"B", None}),
        ("Answer: A and B are both wrong", {"tie", None}),
        ("Verdict: A and B are equally good", {"tie", None}),
        ("I wouldn't say A is better. B is.", {"B", None}),
        ("Would I choose A? No. B is better.", {"B", None}),
        ("A.\nSome notes.\nB. More notes.", {None}),
    ],
)
def test_pairwise_never_misread_as_a(text, allowed):
    one_of(text, "pairwise", allowed)


# ----------------------------------------------------------------- pointwise (4, 5)


@pytest.mark.parametrize(
    "text, scale, expected",
    [
        # a rating on another scale is invalid, not taken at face value
        ("Rating: 3/5", 10, INVALID),
        ("Rating: 4 out of 5", 10, INVALID),
        ("1/10", 5, INVALID),
        ("Rating: 70/100", 10, INVALID),
        ("I would give it 4/5.", 10, INVALID),
        ('{"rating": "4/5"}', 10, INVALID),
        ("Rating: 4/5", 5, "4"),
        ("Rating: 8/10", 10, "8"),
        ("Rating: 8 out of 10", 10, "8"),
        # clear ratings that used to be missed
        ("**Rating:** 7", 10, "7"),
        ("Rating: **7**", 10, "7"),
        ("*Score*: 6", 10, "6"),
        ('{"rating": "8/10"}', 10, "8"),
        ('{"rating": "[[7]]"}', 10, "7"),
        ('{"rating": "**9**"}', 10, "9"),
        ('{"explanation": "ok", "overall_score": 6}', 10, "6"),
        ("I'd rate it 8.", 10, "8"),
        ("I would rate this response a 6.", 10, "6"),
        ("**7**", 10, "7"),
        # numbers that are not ratings
        ("Only 3/10 of the facts are supported.", 10, INVALID),
        ("On a score of 1-10, this is decent.", 10, INVALID),
        ("Rating: 1-10 scale. I think it is good.", 10, INVALID),
        ("Only 3/10 of the facts are supported. Rating: 4", 10, "4"),
        ("Rating: 7/10 ... [[8]]", 10, INVALID),
        ("It would score 3 on a 5-point scale.", 10, INVALID),
        ("Rating: 4 (on a scale of 1 to 5)", 10, INVALID),
        ("Rating: 7 (on a scale of 1-10)", 10, "7"),
        # negated or counterfactual N/10 is not the rating
        ("Not a 10/10, but solid: 7.", 10, INVALID),
        ("It is far from a 10/10.", 10, INVALID),
        ("The reference answer deserves 10/10; the response misses the key step.", 10, INVALID),
        ("It is far from a 10/10, but I'd give it 7/10.", 10, "7"),
        # an explicit rating outranks sub-scores
        ("The accuracy score is 8 and the clarity score is 2. Rating: [[5]]", 10, "5"),
        ("The accuracy score is 8 and the clarity score is 2.", 10, INVALID),
        ("Accuracy score: 8. Overall score: 7", 10, "7"),
    ],
)
def test_pointwise(text, scale, expected):
    check(text, "pointwise", expected, scale=scale)


def test_unknown_protocol_is_an_error():
    with pytest.raises(ValueError):
        parse_reply("A", "contains")


@pytest.mark.parametrize(
    "text, protocol, expected",
    [
        # prose quoting JSON (e.g. the response's own output) is read as prose
        ('The response prints {"a": 1}, as the reference does. Verdict: correct', "reference", "1"),
        ('Response A returns {"ok": true}; Response B crashes. [[A]]', "pairwise", "A"),
        # but a reply that starts with JSON is read from its verdict field only
        ('{"a": 1} Verdict: correct', "reference", INVALID),
        # and a broken object anywhere makes the reply invalid
        ('Response A is better in style.\n{"explanation": "but B is', "pairwise", INVALID),
        # JSON quoted in prose never overrides the judge's own verdict
        (
            'The response outputs {"score": 3}, which matches the expected sentiment score. Rating: [[9]]',
            "pointwise",
            "9",
        ),
        (
            'Response A outputs {"answer": "B"}, matching the answer key. Response B outputs plain text. [[A]]',
            "pairwise",
            "A",
        ),
        (
            'The response gives {"is_correct": true}, but the reference says false. The response is wrong.',
            "reference",
            "0",
        ),
        # a dict in prose is not a JSON reply cut off
        (
            "Response A builds the payload as {'user': user_id} and handles errors; Response B forgets the error case. [[A]]",
            "pairwise",
            "A",
        ),
        (
            'The response returns {"total": a + b}, which gives the right sum. The response is correct.',
            "reference",
            "1",
        ),
        # a JSON verdict that ends the reply, or a closing ```json block, is read as JSON
        (
            'Comparing them, B is better.\n```json\n{"explanation": "B is clearer", "verdict": "B"}\n```',
            "pairwise",
            "B",
        ),
        ('Response A is better.\n```json\n{"explanation": "A is clearer"}\n```', "pairwise", INVALID),
    ],
)
def test_prose_around_json(text, protocol, expected):
    check(text, protocol, expected)
