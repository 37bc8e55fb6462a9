"""One script per figure or table of the paper, regenerated from the code."""
