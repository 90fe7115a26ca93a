"""Ray actors and tasks around plain functions: gradient workers, latency probes, fine-tunes."""
