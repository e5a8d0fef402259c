"""The paper's figures and the results figures, drawn with matplotlib's Agg backend (no display needed).

- :mod:`.style`: the organ -> colour table shared by every figure, the Agg backend, scale bars, atomic PNG writes;
- :mod:`.images`: Figure 1 (CT and registered MR) and Figure 4 (organs over the CT, reference and prediction);
- :mod:`.surface`: Figure 3 (the organs as colour-coded 3D surfaces);
- :mod:`.cohort`: Figure 2 (the split: age, gender, annotation type);
- :mod:`.results`: Dice and HD95 box plots with the paper's means, the registration montage and the TRE per case.

Nothing here imports itk or torch, so the figures env stays small.
"""
