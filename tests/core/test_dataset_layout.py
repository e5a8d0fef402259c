from hanseg.core import dataset_layout


def test_thirty_organs_with_official_ids():
    assert len(dataset_layout.ORGANS) == 30 == len(set(dataset_layout.ORGANS))
    assert dataset_layout.LABEL_IDS["A_Carotid_L"] == 1
    assert dataset_layout.LABEL_IDS["Glnd_Submand_R"] == 19
    assert dataset_layout.LABEL_IDS["SpinalCord"] == 30


def test_left_right_pairs_include_eyes_and_glands():
    pairs = dict(dataset_layout.LR_PAIRS)
    assert pairs["Eye_AL"] == "Eye_AR" and pairs["Eye_PL"] == "Eye_PR"
    assert pairs["Glnd_Lacrimal_L"] == "Glnd_Lacrimal_R"
    assert len(dataset_layout.LR_PAIRS) == 8


def test_case_id_spellings():
    for spelling in ("case_01", "case_1", "Case 01", "1", "01", "1.0", " CASE-1 "):
        assert dataset_layout.normalise_case_id(spelling) == "case_01", spelling
    assert dataset_layout.normalise_case_id("case_42") == "case_42"
    assert dataset_layout.normalise_case_id("patient") is None


def test_organ_spellings():
    assert dataset_layout.normalise_organ("GlnD_Submand_L") == "Glnd_Submand_L"
    assert dataset_layout.normalise_organ("spinalcord") == "SpinalCord"
    assert dataset_layout.normalise_organ("Pharynx") is None


def test_file_names():
    assert dataset_layout.ct_name("case_07") == "case_07_IMG_CT.nrrd"
    assert dataset_layout.mr_name("case_07") == "case_07_IMG_MR_T1.nrrd"
    assert dataset_layout.organ_name("case_07", "Lips") == "case_07_OAR_Lips.seg.nrrd"
    assert dataset_layout.parse_organ_file("case_07_OAR_Glnd_Thyroid.seg.nrrd") == ("case_07", "Glnd_Thyroid")
    assert dataset_layout.parse_organ_file("case_07_IMG_CT.nrrd") is None
