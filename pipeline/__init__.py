"""caseflow's nightly pipeline: one module per stage, named by its verb."""
