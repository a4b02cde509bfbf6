from hg_common.sidecars import group_keys, group_mates, groups, strip_ext


def test_strip_ext():
    assert strip_ext("IMG_1.CR2.xmp") == "IMG_1.CR2"
    assert strip_ext("IMG_1") == "IMG_1"
    assert strip_ext(".hidden") == ".hidden"


def test_homegallery_groups():
    names = ["IMG_1.CR2", "IMG_1.JPG", "IMG_1.CR2.xmp", "IMG_1.cr3.jpg", "IMG_2.jpg", "IMG_2.xmp"]
    assert groups(names) == [
        ["IMG_1.CR2", "IMG_1.CR2.xmp", "IMG_1.JPG", "IMG_1.cr3.jpg"],
        ["IMG_2.jpg", "IMG_2.xmp"],
    ]


def test_order_independent():
    names = ["IMG_2635.AVI.xmp", "IMG_2635.THM", "IMG_2635.AVI"]
    assert group_keys(names) == group_keys(list(reversed(names)))
    assert set(group_keys(names).values()) == {"IMG_2635"}


def test_double_extension_alone_is_its_own_group():
    assert groups(["holiday.2021.jpg", "other.jpg"]) == [["holiday.2021.jpg"], ["other.jpg"]]


def test_case_sensitive():
    assert len(groups(["a.jpg", "A.xmp"])) == 2


def test_group_mates():
    names = ["IMG_1.jpg", "IMG_1.jpg.xmp", "IMG_2.jpg"]
    assert group_mates(names, ["IMG_1.jpg.xmp"]) == {"IMG_1.jpg"}
    assert group_mates(names, ["IMG_2.jpg"]) == set()
