"""Generative models: one module per model, one Synthesizer contract, one model-file format."""
