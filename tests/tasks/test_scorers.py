import pytest

from assay.errors import ConfigError
from assay.records import Item
from assay.tasks.scorers import get_scorer
from assay.tasks.scorers.numeric import extract_number


def item(target):
    return Item(id="x", input={"input": "q"}, target=target)


@pytest.mark.parametrize(
    "output,target,expected",
    [
        ("The Eiffel Tower.", "eiffel tower", 1.0),
        ("the eiffel tower is tall", "Eiffel Tower", 0.0),
        ("", "", 1.0),
    ],
)
def test_exact(output, target, expected):
    assert get_scorer("exact")(output, item(target)).value == expected


@pytest.mark.parametrize(
    "output,target,expected",
    [
        ("I think it is the Eiffel Tower, in Paris", "Eiffel tower", 1.0),
        ("Eiffelturm", "Eiffel", 0.0),  # whole words only
        ("anything", "", 0.0),
    ],
)
def test_contains(output, target, expected):
    assert get_scorer("contains")(output, item(target)).value == expected


@pytest.mark.parametrize(
    "text,number",
    [
        ("so 3 + 4 = 7. #### 1,234", "1,234"),
        ("The answer is $42.", "$42"),
        ("first 3 then 5 finally -8.5", "-8.5"),
        ("no digits here", None),
    ],
)
def test_extract_number(text, number):
    assert extract_number(text) == number


@pytest.mark.parametrize(
    "output,target,expected",
    [
        ("The answer is 1,234.", "1234", 1.0),
        ("72.0", "72", 1.0),
        ("12 apples and 71 pears", "72", 0.0),
        ("nothing", "72", 0.0),
        ("she paid $18 ####18", "#### 18", 1.0),
    ],
)
def test_numeric(output, target, expected):
    assert get_scorer("numeric")(output, item(target)).value == expected


def test_f1_matches_hand_computation():
    # predicted tokens: new york city; gold: york city -> P=2/3, R=1, F1=0.8
    assert get_scorer("f1")("New York City", item("York City")).value == pytest.approx(0.8)
    assert get_scorer("f1")("Boston", item("York City")).value == 0.0


def test_regex_uses_group_and_normalises():
    scorer = get_scorer(r"regex:Final: (\w+)")
    assert scorer("reasoning... Final: PARIS", item("paris")).value == 1.0
    assert scorer("no final line", item("paris")).value == 0.0


def test_unknown_and_bad_scorers_name_the_problem():
    with pytest.raises(ConfigError, match="unknown scorer 'bleu'.*exact"):
        get_scorer("bleu")
    with pytest.raises(ConfigError, match="invalid regex"):
        get_scorer("regex:(unclosed")


def test_regex_uses_the_group_that_took_part_in_the_match():
    # group 1 is unmatched when the second alternative matches: this used to raise AttributeError
    scorer = get_scorer(r"regex:(?:answer: (\d+))|(\d+)")
    assert scorer("I think 42", item("42")).value == 1.0
    assert scorer("answer: 7, not 8", item("7")).value == 1.0
    assert scorer("I think 41", item("42")).value == 0.0
    optional = get_scorer(r"regex:(final )?answer")
    score = optional("the answer", item("answer"))
    assert score.value == 0.0 and "no group" in score.detail


@pytest.mark.parametrize(
    "output,target,expected",
    [
        ("3", "-3", 0.0),
        ("35", "3.5", 0.0),
        ("100", "1.00", 0.0),
        ("1,2,3", "123", 0.0),
        ("-3", "-3", 1.0),
        ("\u22123", "-3", 1.0),
        ("3.5", "3.5", 1.0),
        ("42.", "42", 1.0),  # a sentence-final period is not a decimal point
        ("1,000", "1000", 1.0),
        ("The well-known tower!", "well known tower", 0.0),
        ("The wellknown tower!", "well-known tower", 1.0),
        # leading-dot decimals keep their point and sign
        ("-.5", "5", 0.0),
        (".5", "5", 0.0),
        ("-.5", "-.5", 1.0),
        (".5", ".5", 1.0),
    ],
)
def test_exact_keeps_signs_and_decimal_points(output, target, expected):
    assert get_scorer("exact")(output, item(target)).value == expected


def test_contains_and_f1_keep_signs_and_decimal_points():
    assert get_scorer("contains")("It was -3 degrees.", item("3")).value == 0.0
    assert get_scorer("contains")("It was -3 degrees.", item("-3")).value == 1.0
    assert get_scorer("f1")("3.5", item("35")).value == 0.0
    assert get_scorer("contains")("The probability is .5", item("5")).value == 0.0
    assert get_scorer("contains")("The probability is .5", item(".5")).value == 1.0


@pytest.mark.parametrize(
    "output,target,expected",
    [
        ("The answer is 4", "3/4", 0.0),  # used to read the target as its last number, 4
        ("The answer is 0.75", "3/4", 1.0),
        ("so 3/4 of them", "0.75", 1.0),
        ("The answer is 4", "4/1", 1.0),
        ("It is .5", "0.5", 1.0),
        ("1,2,3", "123", 0.0),
        ("\u22123", "-3", 1.0),
        ("-3", "3", 0.0),
        # what already worked
        ("1,000", "1000", 1.0),
        ("-3", "-3", 1.0),
        ("3.0", "3", 1.0),
        ("$5", "5", 1.0),
        ("-$5", "-5", 1.0),
        ("42.", "42", 1.0),
        ("The answer is **18**", "18", 1.0),
        ("$18.00", "18", 1.0),
        ("The answer is 42", "she had 40 then 2 more #### 42", 1.0),
        ("", "42", 0.0),
    ],
)
def test_numeric_reads_fractions_signs_and_separators(output, target, expected):
    assert get_scorer("numeric")(output, item(target)).value == expected


@pytest.mark.parametrize(
    "text,number",
    [
        ("1,2,3", "3"),
        ("about .5 left", ".5"),
        ("3/4", "3/4"),
        ("1,234.5", "1,234.5"),
    ],
)
def test_extract_number_reads_whole_numbers(text, number):
    assert extract_number(text) == number
