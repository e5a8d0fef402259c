"""Stage 6, reporting: takes the per-case tables, the split and the registration reports and gives the paper's
Table 1 and Table 2 (csv, md, tex), Table 2 against the paper with bootstrap intervals, paired comparisons of
experiments, the provenance record and every figure (subpackage ``figures``).
"""
