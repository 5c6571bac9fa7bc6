"""The new shipping address without the words around it, and never with part of the address cut off."""

import pytest

from actions.orders.addresses import extract_address

CHICAGO = "1450 W Madison St, Apt 3, Chicago, IL 60607"
BEIJING = "北京市朝阳区建国路88号"


@pytest.mark.parametrize(
    "sentence",
    [
        f"The new place is {CHICAGO}. Same name on it.",
        f"the new one is {CHICAGO}",
        f"The right one is at {CHICAGO}",
        f"new one: {CHICAGO}",
        f"THE NEW PLACE IS {CHICAGO}",
        f"new place: {CHICAGO}",
        f"Our new home is {CHICAGO}",
        f"my new address is {CHICAGO}",
        f"My address is now {CHICAGO}",
        f"The address is {CHICAGO}",
        f"it's now {CHICAGO}",
        f"It’s now {CHICAGO}",
        f"we're at {CHICAGO} now",
        f"Hey, we’re now at {CHICAGO}",
        f"I live at {CHICAGO} now",
        f"We've moved to {CHICAGO}",
        f"send it to {CHICAGO}",
        f"Ship it to {CHICAGO}",
        f"deliver to {CHICAGO}",
        f"Could you forward the parcel to {CHICAGO}?",
        f"please use {CHICAGO}",
        f"Please use this address: {CHICAGO}",
        f"Use {CHICAGO} instead",
        f"Change it to {CHICAGO}",
        f"update it to {CHICAGO}, thanks",
        f"Actually make it {CHICAGO}",
        f"it needs to go to {CHICAGO}",
        f"ok so the parcel has to be delivered to {CHICAGO} instead",
        f"I moved! The new place is {CHICAGO}",
        f"Hi, I've moved, can you send it to {CHICAGO} instead?",
    ],
)
def test_english_lead_ins_stay_off_the_label(sentence: str) -> None:
    assert extract_address(sentence) == CHICAGO


@pytest.mark.parametrize(
    "sentence",
    [
        f"新地址是{BEIJING}",
        f"新地址：{BEIJING}",
        f"新的收货地址：{BEIJING}",
        f"寄到{BEIJING}",
        f"送到{BEIJING}",
        f"改成{BEIJING}",
        f"改为{BEIJING}",
        f"换成{BEIJING}",
        f"地址改成{BEIJING}",
        f"收货地址改为：{BEIJING}",
        f"麻烦帮我把地址换成{BEIJING}",
        f"请寄到这个地址：{BEIJING}",
        f"用这个地址：{BEIJING}",
        f"我搬家了，现在住在{BEIJING}",
        f"我搬到{BEIJING}了",
        f"您好，改成{BEIJING}就行，谢谢",
    ],
)
def test_chinese_lead_ins_stay_off_the_label(sentence: str) -> None:
    assert extract_address(sentence) == BEIJING


@pytest.mark.parametrize(
    "address",
    [
        "12 New Street, London N1 9GU",
        "12 New Place, Leeds LS1 2AB",
        "New Place Farm, 3 Mill Lane, York YO1 7HH",
        "The Place, 4 High St, Oxford OX1 4AA",
        "5 Place Vendome, 75001 Paris",
        "12 Ship Street, Brighton BN1 1AD",
        "7 Toronto St, Boston, MA 02116",
        "1 Use Lane, Leeds LS2 7EW",
        "10 Delivery Way, Reading RG1 1AA",
        "100 Grand Ave. St. Louis MO 63101",
        "Flat 4, 27 Oxford Road, Manchester M1 5QA",
        "上海市浦东新区世纪大道100号",
        "杭州市西湖区文三路259号3单元502室",
    ],
)
def test_addresses_that_look_like_lead_ins_stay_whole(address: str) -> None:
    assert extract_address(address) == address


def test_an_address_after_a_lead_in_keeps_words_that_look_like_one() -> None:
    assert extract_address("Please send it to 12 New Place, Leeds LS1 2AB") == "12 New Place, Leeds LS1 2AB"
    assert extract_address("the new address is 12 Ship Street, Brighton") == "12 Ship Street, Brighton"
    assert extract_address("新地址是上海市浦东新区世纪大道100号") == "上海市浦东新区世纪大道100号"


@pytest.mark.parametrize(
    ("sentence", "address"),
    [
        ("pls send it to 5 Park Row, Leeds LS1 5HD instead, same name on it", "5 Park Row, Leeds LS1 5HD"),
        ("change it to 4 Keep Lane, York YO1 7HH, keep the name", "4 Keep Lane, York YO1 7HH"),
        ("send it to 12 Same Street, Leeds LS1 5HD", "12 Same Street, Leeds LS1 5HD"),
        ("改到郑州市金水区花园路38号3单元502，电话还是原来那个", "郑州市金水区花园路38号3单元502"),
        ("新地址：上海市浦东新区张江路88号，收件人还是我", "上海市浦东新区张江路88号"),
    ],
)
def test_afterthoughts_about_the_recipient_stay_off_the_label(sentence: str, address: str) -> None:
    assert extract_address(sentence) == address
