"""National ID numbers (GB 11643): 17 digits, a MOD 11-2 check character and a birth date."""

from __future__ import annotations

from datetime import date

import pytest

from domain.errors import InvalidCommand
from domain.national_id import (
    check_character,
    is_valid_national_id,
    national_id_problem,
    normalise_national_id,
    require_national_id,
)

# The example printed in GB 11643-1999, and numbers whose check character was worked by hand.
VALID = ["11010519491231002X", "522601198503150027", "52260119780308002X", "522601199001080027"]


@pytest.mark.parametrize("number", VALID)
def test_a_number_whose_check_character_matches_is_valid(number: str):
    assert is_valid_national_id(number)
    assert require_national_id(number) == number


def test_the_check_character_may_be_x_and_a_lower_case_x_reads_as_upper_case():
    assert check_character("11010519491231002") == "X"
    assert require_national_id(" 11010519491231002x ") == "11010519491231002X"
    assert normalise_national_id("11010519491231002x") == "11010519491231002X"


def test_the_check_character_is_the_weighted_sum_modulo_11():
    # 1*7+1*9+0*10+1*5+0*8+5*4+1*2+9*1+4*6+9*3+1*7+2*9+3*10+1*5+0*8+0*4+2*2 = 167; 167 % 11 = 2
    assert check_character("11010519491231002") == "10X98765432"[2]


@pytest.mark.parametrize(
    "number",
    ["110105194912310021", "522601199001080028", "522601198503150020", "52260119850315002X"],
)
def test_a_number_with_a_wrong_check_character_is_refused(number: str):
    assert national_id_problem(number) == "the ID number's check digit does not match"
    with pytest.raises(InvalidCommand) as refused:
        require_national_id(number)
    assert refused.value.field == "id_number"


@pytest.mark.parametrize("born", ["19850230", "19851301", "19850000", "18991231"])
def test_a_number_whose_birth_date_is_no_plausible_date_is_refused_whatever_its_check(born: str):
    body = f"522601{born}002"
    number = body + check_character(body)
    assert not is_valid_national_id(number)
    assert "birth date" in str(national_id_problem(number))


def test_a_number_born_after_today_is_refused_when_today_is_known():
    body = "52260120301001002"
    number = body + check_character(body)
    assert is_valid_national_id(number)
    assert not is_valid_national_id(number, today=date(2026, 12, 1))


@pytest.mark.parametrize(
    "number",
    [
        "",
        "52260119850315002",
        "5226011985031500270",
        "522601-98503150027",
        "１１０１０５１９４９１２３１００２Ｘ",
    ],
)
def test_a_number_of_the_wrong_length_or_alphabet_is_refused(number: str):
    assert not is_valid_national_id(number)


def test_an_x_anywhere_but_last_is_refused():
    assert not is_valid_national_id("X10105194912310021")
