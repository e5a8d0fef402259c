"""Stage 1, the dataset: takes the Zenodo archive (or a local copy, or the shipped phantom generator) and gives the
extracted HaN-Seg folder, its manifest, the inventory of checked cases (cases.tsv, organs.tsv) and the split of
Set 1 into training and test cases (split.tsv).
"""
