"""Core layer, under every stage: errors and their one-line reports, the config defaults (read from the schema),
atomic writes, image files and grid geometry, bounding boxes, the HaN-Seg archive's names and organ ids, landmark
files and label-map files. Imports nothing from the stages above it.
"""
