"""Generation: brain-guided synthesis (BrainDiVE) — guidance objects, the brain-guided pipeline and the
end-to-end run — on any latent diffusion model that :mod:`brainlens.models` loads."""
