from __future__ import annotations

import pytest

from hanseg.core import dataset_layout
from hanseg.dataset.metadata import MetadataError, read_organ_availability, read_patients


def test_organs_as_columns_with_semicolons_and_decimal_commas(tmp_path):
    path = tmp_path / "OAR_data.csv"
    header = ";".join(["Case", *[o.replace("Glnd", "GlnD") for o in dataset_layout.ORGANS]])
    row19 = ["19"] + ["1"] * 30
    row19[dataset_layout.LABEL_IDS["OpticChiasm"]] = "0"
    row19[dataset_layout.LABEL_IDS["Brainstem"]] = "0,5"
    row1 = ["1"] + ["1"] * 30
    path.write_text("\ufeff" + header + "\n" + ";".join(row1) + "\n" + ";".join(row19) + "\n", encoding="utf-8")
    result = read_organ_availability(path)
    assert set(result.values) == {"case_01", "case_19"}
    assert result.values["case_19"]["OpticChiasm"] == 0.0
    assert result.values["case_19"]["Brainstem"] == 0.5
    assert result.values["case_19"]["Glnd_Submand_L"] == 1.0
    assert result.warnings == []


def test_organs_as_rows(tmp_path):
    path = tmp_path / "OAR_data.csv"
    lines = ["OAR,case_01,case_02"] + [f"{organ},1,{0 if organ == 'Lips' else 1}" for organ in dataset_layout.ORGANS]
    path.write_text("\n".join(lines) + "\n")
    result = read_organ_availability(path)
    assert result.values["case_02"]["Lips"] == 0.0
    assert result.values["case_01"]["Lips"] == 1.0
    assert len(result.values["case_01"]) == 30


def test_unknown_columns_and_cells_are_warnings_naming_the_file(tmp_path):
    path = tmp_path / "OAR_data.csv"
    path.write_text("ID\tLips\tPharynx\tBrainstem\ncase_01\t1\t1\tn/a\n")
    result = read_organ_availability(path)
    assert result.values["case_01"] == {"Lips": 1.0}
    warnings = [str(w) for w in result.warnings]
    assert any("Pharynx" in w and str(path) in w for w in warnings)
    assert any(w.startswith(f"case_01: {path}: column 'Brainstem': cannot read 'n/a'") for w in warnings)


@pytest.mark.parametrize(
    "text",
    [
        "ID,age,gender\ncase_01,56,M\ncase_02,61,F\n",
        "Patient;Sex;Age (years)\n1;male;56\n2;female;61\n",
        "case_id\tage\tsex\n01\t56.0\tm\n02\t61\tf\n",
        "Case;Age;Gender\ncase_01;56,0;M\ncase_02;61,0;F\n",
    ],
)
def test_patient_data_variants(tmp_path, text):
    path = tmp_path / "patient_data.csv"
    path.write_text(text)
    patients = read_patients(path)
    assert patients.values["case_01"].age == 56 and patients.values["case_01"].gender == "M"
    assert patients.values["case_02"].age == 61 and patients.values["case_02"].gender == "F"
    assert patients.warnings == []


def test_unreadable_patient_file_names_itself(tmp_path):
    path = tmp_path / "patient_data.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(MetadataError, match="patient_data.csv"):
        read_patients(path)
    with pytest.raises(MetadataError, match="not found"):
        read_patients(tmp_path / "missing.csv")


def test_unreadable_age_and_gender_are_warnings_naming_case_column_and_value(tmp_path):
    """`sixty` and `X` used to be blanked silently, and age and gender feed the split and Table 1."""
    path = tmp_path / "patient_data.csv"
    path.write_text("ID,age,gender\ncase_01,sixty,M\ncase_02,61,X\ncase_03,560,F\ncase_04,,\nnobody,50,M\n")
    patients = read_patients(path)
    assert patients.values["case_01"].age is None and patients.values["case_01"].gender == "M"
    assert patients.values["case_02"].age == 61 and patients.values["case_02"].gender is None
    assert patients.values["case_03"].age is None  # 560 is no age
    assert patients.values["case_04"].age is None  # an empty cell is unknown, not a misreading
    warnings = [str(w) for w in patients.warnings]
    assert f"case_01: {path}: column 'age': cannot read 'sixty'" in warnings[0]
    assert f"case_02: {path}: column 'gender': cannot read 'X'" in warnings[1]
    assert "case_03" in warnings[2] and "'560'" in warnings[2]
    assert "line 6: 'nobody' is not a case id" in warnings[3]
    assert len(warnings) == 4
