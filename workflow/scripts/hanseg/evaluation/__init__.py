"""Stage 5, evaluation: takes a prediction, its reference and the MR field of view and gives one table per case
(Dice, HD95, surface Dice, ASSD per organ, with the paper's field-of-view rule), their concatenation, the left/right
check and the Dice ceiling the overlap rule leaves.
"""
