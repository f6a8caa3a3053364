"""In-silico subject: procedural stimuli and a simulated visual cortex with known ground truth."""
