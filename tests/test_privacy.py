

def test_personal_numbers_are_found_alone_not_inside_other_numbers():
    from lib.privacy import personal_numbers

    assert personal_numbers("张三 44080219900101123X 代缴") == ["身份证号"]
    assert personal_numbers("电话13812345678，身份证440802199001011234") == ["身份证号", "手机号"]
    assert personal_numbers("某置业有限公司（住宅首次登记）") == []
    # Receipt and case numbers are not people: longer runs of digits, impossible dates.
    assert personal_numbers("票据号 2026110200012345678901") == []
    assert personal_numbers("单号 440802199013011234") == []  # month 13
    assert personal_numbers("") == personal_numbers(None) == []
