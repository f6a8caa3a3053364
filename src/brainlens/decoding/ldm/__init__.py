"""The brain-conditioned latent diffusion model of MinD-Vis and CAD (:mod:`.model`), fine-tuned on paired data
(:mod:`.fit`) and sampled per brain (:mod:`.sample`)."""
