"""The core: what the notebook shows, and nothing else.

data (load, split, normalise), models (the spec CNN and its variants), train (the recipe and the
loop), plots, compare (Table 3's ranking) and study (Part 2's one-change-at-a-time study). These
modules import only the notebook's libraries (the standard library, torch, torchvision, numpy,
matplotlib) and each other; the tooling around them (the command line, run folders, torchrun, the
notebook builder) imports the core, never the other way round.
"""
