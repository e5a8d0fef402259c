"""Stage 3, preprocessing: takes a case's clipped CT, registered MR, field of view and organ masks and gives them on
one grid (the paper's 0.5 x 0.5 x 2 mm): images, the training label map (the overlap rule), cropped organ masks; and
the way back, a prediction on that grid brought onto the original CT's grid (back-mapping).
"""
