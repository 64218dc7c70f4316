"""The deliverable: the course's starter notebook, completed, and the tools that build and check it.

starter/     the starter notebook as the course gave it (with its provenance note)
template.py  the starter completed, in jupytext's percent format
build.py     `smallcnn notebook`: fills the template, executes it, writes the answers
answers.py   the written answers, from one execution's results
"""
