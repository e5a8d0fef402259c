"""Jobs: one function per Snakemake rule, taking the rule's declared inputs, outputs and options; the rule's script
and the ``hanseg`` command both call it. Also the rules' logging (``rule_runner``), the run record behind
``hanseg status`` (``run_state``), the results folder's lock (``results_lock``) and ``hanseg segment``
(``segment``), which chains the stages for a new case.
"""
