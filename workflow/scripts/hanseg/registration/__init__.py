"""Stage 2, registration: takes a case's clipped CT and its T1 MR and gives the MR on the CT's grid, the MR's field
of view there, elastix's transform files and registration.json (mutual information, TRE where landmarks are known,
the QC measures and their pass/warn/fail verdict). Head masks, initialisation, elastix, QC measures and verdict.
"""
