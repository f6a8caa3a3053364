"""Generation: brain-guided synthesis (BrainDiVE) — guidance objects, the brain-guided pipeline and the
end-to-end run — on any latent diffusion model that :mod:`brainlens.models` loads; and the pipeline that draws images
from brain activity with a fitted brain-conditioned latent diffusion model (MinD-Vis, CAD):
:mod:`~brainlens.generation.pipeline_brain_conditioned`."""
